package io.flatfare.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** values.schema.json rejects what would install something broken; the templates reject what a schema cannot see. */
class SchemaTest {

    private static final String POOL = """
            inference:
              pools:
                - name: p
                  model: {id: llama-3.1-8b, file: m.gguf, source: {persistentVolumeClaim: {claimName: models}}}
            """;

    static Stream<Arguments> invalidValues() {
        return Stream.of(
                Arguments.of("replicas as a string", "gateway: {replicaCount: two}", "'/gateway/replicaCount'"),
                Arguments.of(
                        "partitions as a fraction",
                        "kafka: {topics: {usage: {partitions: 1.5}}}",
                        "'/kafka/topics/usage/partitions'"),
                Arguments.of(
                        "a boolean as a string",
                        "gateway: {autoscaling: {enabled: \"yes\"}}",
                        "'/gateway/autoscaling/enabled'"),
                Arguments.of("a misspelt key", "gateway: {replicas: 3}", "'replicas' not allowed"),
                Arguments.of(
                        "two CORS origins in one entry",
                        "gateway: {corsOrigins: [\"https://a.example,https://b.example\"]}",
                        "'/gateway/corsOrigins/0'"),
                Arguments.of("an unknown top-level key", "postgresql: {enabled: true}", "'postgresql' not allowed"),
                Arguments.of(
                        "an inlined password", "gateway: {database: {password: hunter2}}", "'password' not allowed"),
                Arguments.of("an inlined token", "metering: {financeToken: {value: s3cret}}", "'value' not allowed"),
                Arguments.of("a password in the Redis URL", "redis: {url: \"redis://:pw@redis:6379\"}", "'/redis/url'"),
                Arguments.of(
                        "missing Kafka bootstrap",
                        "kafka: {bootstrapServers: null}",
                        "missing property 'bootstrapServers'"),
                Arguments.of("empty Kafka bootstrap", "kafka: {bootstrapServers: \"\"}", "'/kafka/bootstrapServers'"),
                Arguments.of(
                        "Kafka bootstrap without a port",
                        "kafka: {bootstrapServers: kafka}",
                        "'/kafka/bootstrapServers'"),
                Arguments.of(
                        "a JDBC URL of another database",
                        "gateway: {database: {jdbcUrl: \"jdbc:mysql://db/x\"}}",
                        "'/gateway/database/jdbcUrl'"),
                Arguments.of(
                        "an unknown security protocol", "kafka: {securityProtocol: TLS}", "'/kafka/securityProtocol'"),
                Arguments.of(
                        "inference pool with 0 replicas",
                        POOL + "      replicas: 0\n",
                        "'/inference/pools/0/replicas'"),
                Arguments.of(
                        "inference pool with negative GPUs", POOL + "      gpus: -1\n", "'/inference/pools/0/gpus'"),
                Arguments.of(
                        "inference pool with an unknown key", POOL + "      gpuCount: 2\n", "'gpuCount' not allowed"),
                Arguments.of(
                        "inference pool without a model",
                        "inference: {pools: [{name: p}]}",
                        "missing property 'model'"),
                Arguments.of(
                        "a model with two sources",
                        "inference: {pools: [{name: p, model: {id: m, file: m.gguf, source: "
                                + "{persistentVolumeClaim: {claimName: c}, hostPath: {path: /m}}}}]}",
                        "'/inference/pools/0/model/source'"),
                Arguments.of(
                        "an upper-case model id",
                        "inference: {pools: [{name: p, model: {id: Llama, file: m.gguf, source: {hostPath: {path: /m}}}}]}",
                        "'/inference/pools/0/model/id'"),
                Arguments.of(
                        "scale to zero by default",
                        "inference: {poolDefaults: {replicas: 0}}",
                        "'/inference/poolDefaults/replicas'"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalidValues")
    void rejects(String what, String values, String field, @TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("values.yaml"), values);

        assertThatThrownBy(() -> Chart.render(List.of(Chart.REQUIRED_VALUES, file), Map.of()))
                .as(what)
                .hasMessageContaining("schema")
                .hasMessageContaining(field);
    }

    @Test
    void aValidPoolRendersWithTheDefaultsItDoesNotSet(@TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("values.yaml"), POOL);

        Manifests m = Manifests.parse(Chart.render(List.of(Chart.REQUIRED_VALUES, file), Map.of()));

        Deployment pool = m.get(Deployment.class, Chart.fullName("inference-p"));
        assertThat(pool.getSpec().getReplicas()).isEqualTo(1);
        assertThat(pool.getSpec()
                        .getTemplate()
                        .getSpec()
                        .getContainers()
                        .get(0)
                        .getStartupProbe()
                        .getFailureThreshold())
                .isEqualTo(180);
    }

    @Test
    void meteringReplicasBeyondThePartitionsAreRefused() {
        assertThatThrownBy(() -> Chart.render(
                        List.of(Chart.REQUIRED_VALUES),
                        Map.of("metering.replicaCount", 13, "kafka.topics.usage.partitions", 12)))
                .hasMessageContaining("metering.replicaCount (13) exceeds the partitions");
    }

    @Test
    void twoPoolsWithOneNameAreRefused(@TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("values.yaml"), """
                inference:
                  pools:
                    - {name: p, model: {id: a, file: a.gguf, source: {hostPath: {path: /m}}}}
                    - {name: p, model: {id: b, file: b.gguf, source: {hostPath: {path: /m}}}}
                """);

        assertThatThrownBy(() -> Chart.render(List.of(Chart.REQUIRED_VALUES, file), Map.of()))
                .hasMessageContaining("the pool name \"p\" is used twice");
    }
}
