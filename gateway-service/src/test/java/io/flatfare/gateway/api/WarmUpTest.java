package io.flatfare.gateway.api;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.hamcrest.Matchers.equalTo;

import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
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

    @Inject
    @Readiness
    WarmUp warmUp;

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
