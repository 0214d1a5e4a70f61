package io.flatfare.gateway.api;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/** Trace context from the client's request reaches the usage event's Kafka headers; metrics per model and status. */
@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
class ObservabilityTest {

    @Inject
    Tenants tenants;

    @Test
    void theClientsTraceReachesTheUsageEventsKafkaHeaders() {
        var tenant = tenants.generous();
        byte[] id = new byte[16];
        ThreadLocalRandom.current().nextBytes(id);
        String traceId = HexFormat.of().formatHex(id);
        String requestId = given().header("Authorization", tenant.bearer())
                .header("traceparent", "00-" + traceId + "-00f067aa0ba902b7-01")
                .contentType(ContentType.JSON)
                .body(OpenAiApiTest.chat())
                .post("/v1/chat/completions")
                .then()
                .statusCode(200)
                .extract()
                .header("x-request-id");
        try (UsageTopic usage = new UsageTopic()) {
            var header = usage.record(requestId).headers().lastHeader("traceparent");
            assertThat(header).isNotNull();
            assertThat(new String(header.value(), StandardCharsets.UTF_8)).contains(traceId);
        }
    }

    @Test
    void metricsPerModelAndStatus() {
        var tenant = tenants.generous();
        // The tiny model is random: banning its end token (<|im_end|>, 261) makes sure the stream has a first token.
        String streamed = given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(OpenAiApiTest.chat("stream", true, "seed", 7, "logit_bias", Map.of("261", -100)))
                .post("/v1/chat/completions")
                .then()
                .statusCode(200)
                .extract()
                .header("x-request-id");
        try (UsageTopic usage = new UsageTopic()) {
            assertThat(usage.await(streamed).timeToFirstTokenMs()).isNotNull();
        }
        given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(OpenAiApiTest.chat("temperature", 9))
                .post("/v1/chat/completions")
                .then()
                .statusCode(400);
        String metrics =
                given().get("/q/metrics").then().statusCode(200).extract().asString();
        assertThat(metrics)
                .containsPattern("flatfare_gateway_requests_total\\{[^}]*endpoint=\"/v1/chat/completions\"[^}]*"
                        + "model=\"flatfare-tiny\"[^}]*status=\"200\"")
                .containsPattern("flatfare_gateway_requests_total\\{[^}]*status=\"400\"")
                .contains("flatfare_gateway_request_duration_seconds_bucket")
                .contains("flatfare_gateway_time_to_first_token_seconds_bucket")
                .contains("flatfare_gateway_requests_in_flight{model=\"flatfare-tiny\"}")
                .contains("flatfare_gateway_usage_backlog")
                .contains("flatfare_gateway_limit_rejections_total");
    }
}
