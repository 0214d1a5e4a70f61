package io.flatfare.gateway.api;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.hamcrest.Matchers.equalTo;

import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.gateway.account.KeySecrets;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.eclipse.microprofile.health.Readiness;
import org.junit.jupiter.api.Test;

/** The gateway's warm-up: part of readiness, and it neither bills, limits nor counts anything. */
@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
class WarmUpTest {

    /** Every series that a request would move: requests, usage events, limit decisions. */
    private static final Pattern COUNTED = Pattern.compile(
            "^(flatfare_gateway_requests_total|flatfare_gateway_usage_recorded_total"
                    + "|flatfare_gateway_limit_rejections_total|flatfare_gateway_limit_fallbacks_total)\\{.*$",
            Pattern.MULTILINE);

    /** What a pass through the HTTP API gets when the platform serves every request of it. */
    static final List<String> EVERY_REQUEST_ANSWERED = List.of(
            "POST /v1/chat/completions 200",
            "POST /v1/completions 200",
            "POST /v1/responses 200",
            "POST /v1/embeddings 200",
            "GET /v1/models 200");

    @Inject
    @Readiness
    WarmUp warmUp;

    @Inject
    WarmUpKey key;

    @Inject
    MeterRegistry meters;

    @Test
    void readinessWaitsForItAndItLeavesNoTrace() {
        given().get("/q/health/ready")
                .then()
                .statusCode(200)
                .body("checks.find { it.name == 'warm-up' }.status", equalTo("UP"));
        String before = counted();

        warmUp.run();

        assertThat(counted()).isEqualTo(before);
        // The request metrics' code ran on meters of its own: none is left behind.
        assertThat(given().get("/q/metrics").then().statusCode(200).extract().asString())
                .contains("flatfare_gateway_usage_backlog")
                .doesNotContain("warm-up");
    }

    @Test
    void itsRequestsThroughTheHttpApiAreAllAnsweredAndLeaveNoTrace() {
        String before = counted();

        Map<String, Integer> answers = warmUp.overHttp(2);

        // Each request of a pass, twice, and each answered 200: the whole path ran, inference included.
        assertThat(answers)
                .containsOnlyKeys(EVERY_REQUEST_ANSWERED)
                .containsEntry("POST /v1/chat/completions 200", 4)
                .containsEntry("POST /v1/embeddings 200", 2);
        assertThat(counted()).as("requests, usage events, limit decisions").isEqualTo(before);
        assertThat(meters.get("flatfare.gateway.http.exchanges.open").gauge().value())
                .isZero();
        assertThat(meters.find("flatfare.gateway.requests.in.flight").gauges())
                .allSatisfy(gauge -> assertThat(gauge.value()).isZero());
    }

    @Test
    void itsKeyIsValidOnlyWhileOpenAndNoOtherKeyIsTakenForIt() {
        String open = key.open();
        try {
            given().header("Authorization", "Bearer " + open)
                    .get("/v1/models")
                    .then()
                    .statusCode(200);
            given().header("Authorization", "Bearer " + KeySecrets.generate())
                    .get("/v1/models")
                    .then()
                    .statusCode(401);
        } finally {
            key.close();
        }
        given().header("Authorization", "Bearer " + open)
                .get("/v1/models")
                .then()
                .statusCode(401);
    }

    @Test
    void theMadeUpRequestsPassEveryCheckOfTheRequestPath() {
        // run() logs a failure and goes on; a made-up request that a check refuses would warm only half the path.
        assertThatCode(warmUp::requestPath).doesNotThrowAnyException();
    }

    private static String counted() {
        String metrics =
                given().get("/q/metrics").then().statusCode(200).extract().asString();
        var out = new StringBuilder();
        var matcher = COUNTED.matcher(metrics);
        while (matcher.find()) {
            out.append(matcher.group()).append('\n');
        }
        return out.toString();
    }
}
