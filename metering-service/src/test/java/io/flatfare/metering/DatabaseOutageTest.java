package io.flatfare.metering;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;

import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.ProxiedPostgresResource;
import io.flatfare.testing.support.TcpProxy;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Readiness follows the database: DOWN while it cannot be reached, UP again once it can. */
@QuarkusTest
@WithTestResource(KafkaTestResource.class)
@WithTestResource(ProxiedPostgresResource.class)
class DatabaseOutageTest {

    TcpProxy database;

    int readiness() {
        return given().get("/q/health/ready").statusCode();
    }

    @Test
    void readinessIsDownWhileTheDatabaseIsUnreachableAndUpAfter() {
        await().atMost(Duration.ofSeconds(30)).until(() -> readiness() == 200);
        database.down();
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> readiness() == 503);
            given().get("/q/health/ready")
                    .then()
                    .body("checks.find { it.name == 'Database connections health check' }.status", equalTo("DOWN"));
            // Liveness is not the database's business: restarting the pod would not bring it back.
            given().get("/q/health/live").then().statusCode(200);
        } finally {
            database.up();
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> readiness() == 200);
    }
}
