package io.flatfare.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.SecretKeySelector;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Each service gets its own database, the Kafka cluster, Redis and the registry from values; secrets by reference. */
class WiringTest {

    private final Manifests defaults = Chart.renderDefaults();
    private final Manifests gpu = Chart.renderGpu();

    @Test
    void eachServiceGetsItsOwnDatabaseFromValues() {
        assertDatabase(gateway(defaults), "FLATFARE_GATEWAY", "flatfare_gateway", "flatfare-gateway-db");
        assertDatabase(registry(defaults), "FLATFARE_REGISTRY", "flatfare_registry", "flatfare-registry-db");
        assertDatabase(metering(defaults), "FLATFARE_METERING", "flatfare_metering", "flatfare-metering-db");
    }

    @Test
    void gatewayAndMeteringGetKafkaFromValues() {
        for (Container c : new Container[] {gateway(defaults), metering(defaults)}) {
            assertThat(Manifests.envValue(c, "FLATFARE_KAFKA_BOOTSTRAP_SERVERS"))
                    .isEqualTo("kafka-0.kafka:9092,kafka-1.kafka:9092");
            assertThat(Manifests.envValue(c, "KAFKA_SECURITY_PROTOCOL")).isEqualTo("PLAINTEXT");
            assertThat(Manifests.env(c, "KAFKA_SASL_JAAS_CONFIG")).isEmpty();
        }
        for (Container c : new Container[] {gateway(gpu), metering(gpu)}) {
            assertThat(Manifests.envValue(c, "FLATFARE_KAFKA_BOOTSTRAP_SERVERS"))
                    .isEqualTo("kafka-bootstrap.kafka.svc:9093");
            assertThat(Manifests.envValue(c, "KAFKA_SECURITY_PROTOCOL")).isEqualTo("SASL_SSL");
            assertThat(Manifests.envValue(c, "KAFKA_SASL_MECHANISM")).isEqualTo("SCRAM-SHA-512");
            assertSecretRef(c, "KAFKA_SASL_JAAS_CONFIG", "flatfare-kafka-client", "sasl.jaas.config");
        }
        assertThat(Manifests.env(registry(defaults), "FLATFARE_KAFKA_BOOTSTRAP_SERVERS"))
                .isEmpty();
    }

    @Test
    void gatewayGetsRedisFromValuesWithThePasswordFromASecret() {
        assertThat(Manifests.envValue(gateway(defaults), "FLATFARE_REDIS_URL")).isEqualTo("redis://redis-master:6379");
        assertThat(Manifests.env(gateway(defaults), "QUARKUS_REDIS_PASSWORD")).isEmpty();
        assertThat(Manifests.envValue(gateway(gpu), "FLATFARE_REDIS_URL")).isEqualTo("rediss://redis.redis.svc:6380");
        assertSecretRef(gateway(gpu), "QUARKUS_REDIS_PASSWORD", "flatfare-redis", "password");
    }

    @Test
    void gatewayAndEveryInferencePoolReachTheRegistryService() {
        Service registry = gpu.get(Service.class, Chart.fullName("model-registry"));
        int port = registry.getSpec().getPorts().get(0).getPort();
        assertThat(port).isEqualTo(8060);

        assertThat(gpu.of(Deployment.class))
                .filteredOn(d -> d.getMetadata().getName().contains("-inference-"))
                .hasSize(3)
                .allSatisfy(d -> assertRegistry(Manifests.container(d.getSpec().getTemplate(), "inference"), registry));
        assertRegistry(gateway(gpu), registry);
    }

    @Test
    void eachMeteringReplicaHasItsOwnKafkaTransactionalIdItsPodName() {
        var id = Manifests.env(metering(defaults), "FLATFARE_METERING_TRANSACTIONAL_ID")
                .orElseThrow();
        assertThat(id.getValue()).isNull();
        assertThat(id.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("metadata.name");
    }

    @Test
    void theGatewayReadsPricesFromTheMeteringService() {
        Service metering = gpu.get(Service.class, Chart.fullName("metering"));
        assertThat(Manifests.envValue(gateway(gpu), "FLATFARE_GATEWAY_PRICES_URL"))
                .isEqualTo("http://" + metering.getMetadata().getName() + ":"
                        + metering.getSpec().getPorts().get(0).getPort() + "/prices");
    }

    @Test
    void tokensComeFromSecrets() {
        assertSecretRef(gateway(defaults), "FLATFARE_GATEWAY_ADMIN_TOKEN", "flatfare-tokens", "gateway-admin-token");
        assertSecretRef(registry(defaults), "FLATFARE_REGISTRY_ADMIN_TOKEN", "flatfare-tokens", "registry-admin-token");
        assertSecretRef(metering(defaults), "FLATFARE_METERING_ADMIN_TOKEN", "flatfare-tokens", "metering-admin-token");
        assertSecretRef(
                metering(defaults), "FLATFARE_METERING_FINANCE_TOKEN", "flatfare-tokens", "metering-finance-token");
    }

    /** No Secret is rendered, and every credential-like variable is a secretKeyRef with no literal value. */
    @Test
    void noCredentialIsInlinedAnywhere() {
        Pattern credential = Pattern.compile("(?i).*(PASSWORD|TOKEN|JAAS|SECRET|CREDENTIAL).*");
        for (Manifests manifests : new Manifests[] {defaults, gpu}) {
            assertThat(manifests.all()).extracting(Manifests.Manifest::kind).doesNotContain("Secret");
            for (Container c : manifests.containers()) {
                for (EnvVar env : c.getEnv()) {
                    if (credential.matcher(env.getName()).matches()) {
                        assertThat(env.getValue())
                                .as("%s of %s", env.getName(), c.getName())
                                .isNull();
                        assertThat(env.getValueFrom().getSecretKeyRef())
                                .as("%s of %s", env.getName(), c.getName())
                                .isNotNull();
                    }
                }
            }
            for (ConfigMap map : manifests.of(ConfigMap.class)) {
                if (map.getMetadata().getName().endsWith("-dashboard")) {
                    continue;
                }
                assertThat(String.join("\n", map.getData().values()))
                        .as(map.getMetadata().getName())
                        .doesNotContainIgnoringCase("password")
                        .doesNotContainIgnoringCase("token")
                        .doesNotContainIgnoringCase("jaas");
            }
        }
    }

    private static void assertRegistry(Container container, Service registry) {
        assertThat(Manifests.envValue(container, "FLATFARE_REGISTRY_HOST"))
                .isEqualTo(registry.getMetadata().getName());
        assertThat(Manifests.envValue(container, "FLATFARE_REGISTRY_PORT"))
                .isEqualTo(String.valueOf(registry.getSpec().getPorts().get(0).getPort()));
    }

    private static void assertDatabase(Container container, String prefix, String database, String secret) {
        assertThat(Manifests.envValue(container, prefix + "_DB_URL"))
                .isEqualTo("jdbc:postgresql://postgres:5432/" + database);
        assertSecretRef(container, prefix + "_DB_USER", secret, "username");
        assertSecretRef(container, prefix + "_DB_PASSWORD", secret, "password");
    }

    static void assertSecretRef(Container container, String env, String secret, String key) {
        EnvVar var = Manifests.env(container, env)
                .orElseThrow(() -> new AssertionError(container.getName() + " has no " + env));
        assertThat(var.getValue()).as(env).isNull();
        SecretKeySelector ref = var.getValueFrom().getSecretKeyRef();
        assertThat(ref.getName()).as(env).isEqualTo(secret);
        assertThat(ref.getKey()).as(env).isEqualTo(key);
    }

    static Container gateway(Manifests m) {
        return m.find(Deployment.class, Chart.fullName("gateway"))
                .map(d -> d.getSpec().getTemplate())
                .or(() -> m.find(StatefulSet.class, Chart.fullName("gateway"))
                        .map(s -> s.getSpec().getTemplate()))
                .map(t -> Manifests.container(t, "gateway"))
                .orElseThrow();
    }

    static Container registry(Manifests m) {
        return Manifests.container(
                m.get(Deployment.class, Chart.fullName("model-registry"))
                        .getSpec()
                        .getTemplate(),
                "model-registry");
    }

    static Container metering(Manifests m) {
        return Manifests.container(
                m.get(Deployment.class, Chart.fullName("metering")).getSpec().getTemplate(), "metering");
    }
}
