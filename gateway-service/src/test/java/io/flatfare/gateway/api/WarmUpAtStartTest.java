package io.flatfare.gateway.api;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Map;
import org.awaitility.Awaitility;
import org.eclipse.microprofile.health.Readiness;
import org.junit.jupiter.api.Test;

/**
 * The warm-up's passes through the HTTP API as start-up runs them: once the server listens, before readiness, every
 * request answered, and nothing counted.
 */
@QuarkusTest
@TestProfile(WarmUpAtStartTest.OnePass.class)
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
class WarmUpAtStartTest {

    public static class OnePass implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("flatfare.gateway.warm-up.http-passes", "2");
        }
    }

    @Inject
    @Readiness
    WarmUp warmUp;

    @Test
    void readinessFollowsThePassesThroughTheHttpApiWhichAreAllAnsweredAndCountNothing() {
        Awaitility.await()
                .atMost(Duration.ofSeconds(60))
                .untilAsserted(() -> given().get("/q/health/ready").then().statusCode(200));

        assertThat(warmUp.httpAnswers())
                .as("the passes ran before readiness")
                .containsOnlyKeys(WarmUpTest.EVERY_REQUEST_ANSWERED)
                .containsEntry("POST /v1/chat/completions 200", 4);
        String metrics =
                given().get("/q/metrics").then().statusCode(200).extract().asString();
        assertThat(metrics)
                .doesNotContain("flatfare_gateway_requests_total{")
                .doesNotContain("flatfare_gateway_usage_recorded_total{")
                .contains("flatfare_gateway_http_exchanges_open 0.0");
    }
}
