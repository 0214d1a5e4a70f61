package io.flatfare.metering;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.matchesPattern;

import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The service starts, reports itself healthy (database and Kafka included) and exports Prometheus metrics. */
@QuarkusTest
@WithTestResource(KafkaTestResource.class)
@WithTestResource(PostgresTestResource.class)
class MeteringHealthTest {

    @Test
    void reportsReadyAndLive() {
        given().get("/q/health/ready")
                .then()
                .statusCode(200)
                .body("status", equalTo("UP"))
                .body("checks.name", hasItem("Database connections health check"));
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
    }

    @Test
    void exportsMetrics() {
        given().get("/q/metrics").then().statusCode(200).body(containsString("jvm_memory_used_bytes"));
    }

    /** What the dashboard shows of metering: the usage consumer's lag (its own Kafka client), the dead letters. */
    @Test
    void exportsTheUsageConsumersLagAndTheDeadLetterCounts() {
        await().atMost(Duration.ofSeconds(60))
                .untilAsserted(() -> given().get("/q/metrics")
                        .then()
                        .body(matchesPattern("(?s).*\\nkafka_consumer_fetch_manager_records_lag_max\\{[^}]*"
                                + "topic=\"flatfare\\.usage\\.v1\"[^}]*} [0-9.E]+\\n.*")));
        given().get("/q/metrics")
                .then()
                .body(containsString("flatfare_metering_dead_letters_total{cause=\"unrateable\"}"))
                .body(containsString("flatfare_metering_dead_letters_total{cause=\"invalid-record\"}"))
                .body(containsString("flatfare_metering_dead_letters_replayed_total"));
    }
}
