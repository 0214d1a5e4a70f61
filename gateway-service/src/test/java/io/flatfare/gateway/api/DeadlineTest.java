package io.flatfare.gateway.api;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A request that outlives {@code flatfare.gateway.api.request-timeout}: 504 {@code timeout} before any output, the
 * {@code timeout} error event in a stream that began, neither billed, and the model's only slot free at once.
 */
@QuarkusTest
@TestProfile(DeadlineTest.ShortDeadline.class)
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DeadlineTest {

    public static class ShortDeadline implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("flatfare.gateway.api.request-timeout", "2s");
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    Tenants tenants;

    Tenants.Tenant tenant;
    UsageTopic usage;

    @BeforeAll
    void setUp() {
        tenant = tenants.generous();
        usage = new UsageTopic();
    }

    @AfterAll
    void tearDown() {
        usage.close();
    }

    /** 8,000 tokens with the end of text banned: several seconds of the long model's only slot. */
    private static Map<String, Object> longGeneration(boolean stream) {
        return OpenAiApiTest.chat(
                "model",
                InferencePlatformResource.LONG_MODEL,
                "stream",
                stream,
                "max_tokens",
                8000,
                "logit_bias",
                Map.of("261", -100));
    }

    private Response post(Map<String, Object> body) {
        return given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(body)
                .post("/v1/chat/completions");
    }

    @Test
    void aRequestPastItsDeadlineIs504AndNotBilledAndFreesTheSlot() {
        Response late = post(longGeneration(false));
        OpenAiErrorsTest.envelope(late, 504, "timeout", null, "timeout");
        UsageEvent event = usage.await(late.header("x-request-id"));
        assertThat(event.outcome()).isEqualTo(Outcome.TIMEOUT);
        assertThat(event.httpStatus()).isEqualTo(504);
        assertThat(event.billable()).isFalse();

        // The model has one slot: a request still queued behind the timed-out generation would time out as well.
        post(OpenAiApiTest.chat("model", InferencePlatformResource.LONG_MODEL, "max_tokens", 1))
                .then()
                .statusCode(200);
    }

    @Test
    void aStreamPastItsDeadlineEndsWithTheTimeoutEventAndIsNotBilled() throws Exception {
        Response late = post(longGeneration(true));
        late.then().statusCode(200).header("content-type", org.hamcrest.Matchers.startsWith("text/event-stream"));
        String body = late.asString();
        assertThat(body).doesNotContain("[DONE]").endsWith("\n\n");
        List<String> frames = List.of(body.split("\n\n"));
        assertThat(frames.size()).as("frames before the deadline").isGreaterThan(1);
        assertThat(frames).allMatch(frame -> frame.startsWith("data: "));
        JsonNode chunk = JSON.readTree(frames.get(0).substring("data: ".length()));
        assertThat(chunk.path("object").asText()).isEqualTo("chat.completion.chunk");
        JsonNode last = JSON.readTree(frames.getLast().substring("data: ".length()));
        assertThat(last.path("error").path("type").asText()).isEqualTo("timeout");
        assertThat(last.path("error").path("code").asText()).isEqualTo("timeout");
        assertThat(last.properties()).hasSize(1);

        UsageEvent event = usage.await(late.header("x-request-id"));
        assertThat(event.outcome()).isEqualTo(Outcome.TIMEOUT);
        assertThat(event.billable()).isFalse();
        assertThat(event.httpStatus()).isEqualTo(200);

        post(OpenAiApiTest.chat("model", InferencePlatformResource.LONG_MODEL, "max_tokens", 1, "stream", true))
                .then()
                .statusCode(200);
    }
}
