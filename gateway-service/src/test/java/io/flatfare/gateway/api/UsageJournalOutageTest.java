package io.flatfare.gateway.api;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.notNullValue;

import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.gateway.api.Tenants.Tenant;
import io.flatfare.gateway.usage.DurableUsageRecorder;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.response.ValidatableResponse;
import jakarta.inject.Inject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The gateway while its usage journal cannot be written (a full or failing disk): a request then could not be
 * billed for sure, so it is refused with a 503 to retry, before any work (that it uses no limit is
 * {@link V1GuardAdmissionTest}'s); the requests served before it lose nothing, and all is served again once the journal can be written.
 */
@QuarkusTest
@TestProfile(UsageJournalOutageTest.TinySegments.class)
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
class UsageJournalOutageTest {

    /** Every batch of events begins a new segment file, so taking the directory away fails the next write. */
    public static class TinySegments implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("flatfare.gateway.usage.segment-size", "1");
        }
    }

    @Inject
    Tenants tenants;

    @Inject
    DurableUsageRecorder recorder;

    @Test
    void whileTheJournalCannotBeWrittenRequestsAreRefusedWithA503AndNothingIsLost() throws Exception {
        Tenant tenant = tenants.generous();
        chat(tenant).statusCode(200);
        await().atMost(Duration.ofSeconds(60)).until(() -> recorder.backlog() == 0);

        Path dir = recorder.journalDirectory();
        Path moved = dir.resolveSibling(dir.getFileName() + "-moved");
        Files.move(dir, moved);
        Files.writeString(dir, "not a directory");
        try {
            // Admitted before the journal failed: served, its event waits in memory for the disk.
            chat(tenant).statusCode(200);
            await().atMost(Duration.ofSeconds(10)).until(() -> !recorder.accepting());

            chat(tenant)
                    .statusCode(503)
                    .header("retry-after", "2")
                    .header("x-request-id", notNullValue())
                    .body("error.type", equalTo("server_error"))
                    .body("error.code", equalTo("usage_unavailable"))
                    .body("error.param", equalTo(null))
                    .body("error.message", equalTo("Usage cannot be recorded right now; please retry shortly."));
            given().header("Authorization", tenant.bearer())
                    .contentType(ContentType.JSON)
                    .body(Map.of("model", "flatfare-tiny-embed", "input", "hello"))
                    .post("/v1/embeddings")
                    .then()
                    .statusCode(503)
                    .body("error.code", equalTo("usage_unavailable"));
            given().header("Authorization", tenant.bearer())
                    .contentType(ContentType.JSON)
                    .body(Map.of(
                            "model",
                            OpenAiApiTest.MODEL,
                            "stream",
                            true,
                            "max_tokens",
                            2,
                            "messages",
                            List.of(Map.of("role", "user", "content", "Hi"))))
                    .post("/v1/chat/completions")
                    .then()
                    .statusCode(503)
                    .body("error.code", equalTo("usage_unavailable"));
            given().get("/q/health/ready")
                    .then()
                    .statusCode(503)
                    .body("checks.find { it.name == 'usage-journal' }.status", equalTo("DOWN"));
        } finally {
            Files.delete(dir);
            Files.move(moved, dir);
        }

        await().atMost(Duration.ofSeconds(30)).until(() -> recorder.accepting() && recorder.backlog() == 0);
        chat(tenant).statusCode(200);

        // The three served requests are billed once each; the refused ones have no event.
        try (UsageTopic usage = new UsageTopic()) {
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> usage.forAccount(tenant.account()).size() >= 3);
            List<UsageEvent> events = usage.forAccount(tenant.account());
            assertThat(events).hasSize(3);
            assertThat(events).extracting(UsageEvent::outcome).containsOnly(Outcome.COMPLETED);
            assertThat(events).extracting(UsageEvent::eventId).doesNotHaveDuplicates();
        }
    }

    private static ValidatableResponse chat(Tenant tenant) {
        return given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(Map.of(
                        "model",
                        OpenAiApiTest.MODEL,
                        "max_tokens",
                        2,
                        "messages",
                        List.of(Map.of("role", "user", "content", "Hi"))))
                .post("/v1/chat/completions")
                .then();
    }
}
