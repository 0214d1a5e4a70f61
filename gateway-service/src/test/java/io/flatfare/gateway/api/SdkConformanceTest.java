package io.flatfare.gateway.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The official OpenAI Node SDK (npm {@code openai}, installed by the build from the committed lockfile) against
 * this gateway: chat in both modes, completions, embeddings, models, and the SDK's error classes for 400, 401, 404
 * and 429. The checks are in {@code src/test/node/conformance.mjs}.
 */
@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
class SdkConformanceTest {

    static final List<String> CHECKS = List.of(
            "chat",
            "chat-n",
            "chat-stream",
            "chat-json",
            "completions",
            "completions-stream",
            "embeddings",
            "models",
            "responses",
            "responses-stream",
            "responses-stored",
            "error-400",
            "error-400-responses",
            "error-404-responses",
            "error-401",
            "error-404",
            "error-429");

    @Inject
    Tenants tenants;

    @Test
    void theOfficialNodeSdkWorksUnchanged() throws Exception {
        var tenant = tenants.generous();
        var exhausted = tenants.exhausted();

        Path dir = Path.of("src", "test", "node").toAbsolutePath();
        ProcessBuilder node = new ProcessBuilder("node", "conformance.mjs")
                .directory(dir.toFile())
                .redirectErrorStream(true);
        node.environment().put("FLATFARE_BASE_URL", "http://127.0.0.1:" + RestAssured.port + "/v1");
        node.environment().put("FLATFARE_API_KEY", tenant.key());
        node.environment().put("FLATFARE_EXHAUSTED_API_KEY", exhausted.key());
        node.environment().put("FLATFARE_MODEL", "flatfare-tiny");
        node.environment().put("FLATFARE_EMBEDDING_MODEL", "flatfare-tiny-embed");
        node.environment().put("FLATFARE_SLASHED_ALIAS", InferencePlatformResource.LONG_MODEL_ALIAS);
        node.environment().put("FLATFARE_SLASHED_ALIAS_OF", InferencePlatformResource.LONG_MODEL);
        Process process = node.start();
        boolean exited = process.waitFor(180, TimeUnit.SECONDS);
        if (!exited) {
            process.destroyForcibly();
        }
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(exited).as("node finished; output:%n%s", output).isTrue();
        for (String check : CHECKS) {
            assertThat(output).as("output:%n%s", output).contains("PASS " + check + "\n");
        }
        assertThat(output).doesNotContain("FAIL");
        assertThat(process.exitValue()).isZero();
    }
}
