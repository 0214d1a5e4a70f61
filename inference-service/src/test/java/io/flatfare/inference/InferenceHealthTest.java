package io.flatfare.inference;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;

import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Start-up loads and warms every model, then readiness turns UP; metrics are exported. */
@QuarkusTest
@WithTestResource(TinyModelResource.class)
class InferenceHealthTest {

    @Test
    void readyOnceEveryModelIsLoadedAndWarm() {
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
        await().atMost(Duration.ofSeconds(60))
                .until(() -> given().get("/q/health/ready").statusCode() == 200);
        given().get("/q/health/ready")
                .then()
                .body("status", equalTo("UP"))
                .body("checks.find { it.name == 'Resident models' }.data.'flatfare-tiny'", equalTo("READY"))
                .body("checks.find { it.name == 'Resident models' }.data.'flatfare-tiny-embed'", equalTo("READY"));
    }

    @Test
    void exportsPerModelMetrics() {
        await().atMost(Duration.ofSeconds(60))
                .until(() -> given().get("/q/health/ready").statusCode() == 200);
        given().get("/q/metrics")
                .then()
                .statusCode(200)
                .body(containsString("flatfare_inference_slots_busy{model=\"flatfare-tiny\"}"))
                .body(containsString("flatfare_inference_queue_depth{model=\"flatfare-tiny\"}"));
    }
}
