package io.flatfare.contracts.events;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class UsageEventTest {

    @Test
    void serialisesToSchemaValidSnakeCaseJsonAndReadsBackEqual() {
        UsageEvent event = Fixtures.usage().build();

        String json = EventJson.toJsonString(event);

        assertThat(EventSchemas.validate(UsageEvent.class, json).violations()).isEmpty();
        assertThat(EventJson.fromJson(json, UsageEvent.class)).isEqualTo(event);
        assertThat(EventJson.fromJson(EventJson.toJson(event), UsageEvent.class))
                .isEqualTo(event);
        ObjectNode tree = Fixtures.tree(event);
        assertThat(tree.get("event_id").asText()).isEqualTo("req_01JD8Z6Q4N7K2M3P5R6S7T8V9W");
        assertThat(tree.get("endpoint").asText()).isEqualTo("/v1/chat/completions");
        assertThat(tree.get("outcome").asText()).isEqualTo("completed");
        assertThat(tree.get("total_tokens").asInt()).isEqualTo(170);
        assertThat(tree.get("billable").asBoolean()).isTrue();
        assertThat(tree.get("occurred_at").isTextual()).isTrue();
        assertThat(tree.get("occurred_at").asText()).isEqualTo("2026-11-30T23:59:59.999123456Z");
    }

    @Test
    void nullableFieldsAreWrittenAsNullAndStayValid() {
        UsageEvent rejected = Fixtures.usage().model(null).modelAlias(null).priceTier(null).stream(false)
                .outcome(Outcome.REJECTED)
                .httpStatus(404)
                .promptTokens(0)
                .completionTokens(0)
                .queueMs(null)
                .timeToFirstTokenMs(null)
                .instanceId(null)
                .build();

        String json = EventJson.toJsonString(rejected);

        assertThat(rejected.billable()).isFalse();
        assertThat(Fixtures.tree(rejected).get("model").isNull()).isTrue();
        assertThat(Fixtures.tree(rejected).has("time_to_first_token_ms")).isTrue();
        assertThat(EventSchemas.validate(UsageEvent.class, json).violations()).isEmpty();
        assertThat(EventJson.fromJson(json, UsageEvent.class)).isEqualTo(rejected);
    }

    @Test
    void everyEnumValueIsInTheSchemaAndRoundTrips() {
        for (Endpoint endpoint : Endpoint.values()) {
            for (Outcome outcome : Outcome.values()) {
                int status = switch (outcome) {
                    case COMPLETED -> 200;
                    case REJECTED -> 429;
                    case CLIENT_CANCELLED -> 499;
                    case FAILED -> 503;
                    case TIMEOUT -> 504;
                };
                UsageEvent event = Fixtures.usage()
                        .endpoint(endpoint)
                        .outcome(outcome)
                        .httpStatus(status)
                        .build();
                String json = EventJson.toJsonString(event);
                assertThat(EventSchemas.validate(UsageEvent.class, json).violations())
                        .as("%s %s", endpoint, outcome)
                        .isEmpty();
                assertThat(EventJson.fromJson(json, UsageEvent.class)).isEqualTo(event);
            }
        }
    }

    @Test
    void billabilityFollowsTheFlatFareRules() {
        assertThat(Fixtures.usage().outcome(Outcome.COMPLETED).build().billable())
                .isTrue();
        assertThat(Fixtures.usage()
                        .outcome(Outcome.COMPLETED)
                        .timeToFirstTokenMs(null)
                        .build()
                        .billable())
                .as("completed without a token (immediate stop) is still a delivered response")
                .isTrue();
        assertThat(Fixtures.usage()
                        .outcome(Outcome.CLIENT_CANCELLED)
                        .timeToFirstTokenMs(12L)
                        .build()
                        .billable())
                .as("stream abandoned after the first token")
                .isTrue();
        assertThat(Fixtures.usage()
                        .outcome(Outcome.CLIENT_CANCELLED)
                        .httpStatus(499)
                        .timeToFirstTokenMs(null)
                        .completionTokens(0)
                        .build()
                        .billable())
                .as("cancelled before the first token")
                .isFalse();
        assertThat(Fixtures.usage()
                        .outcome(Outcome.REJECTED)
                        .httpStatus(429)
                        .timeToFirstTokenMs(null)
                        .build()
                        .billable())
                .isFalse();
        assertThat(Fixtures.usage()
                        .outcome(Outcome.FAILED)
                        .httpStatus(200)
                        .timeToFirstTokenMs(40L)
                        .build()
                        .billable())
                .as("platform failure after the stream started")
                .isFalse();
        assertThat(Fixtures.usage()
                        .outcome(Outcome.TIMEOUT)
                        .httpStatus(504)
                        .build()
                        .billable())
                .isFalse();
    }

    static Stream<Arguments> invalidEvents() {
        return Stream.of(
                invalid("null event_id", b -> b.eventId(null), "event_id must not be null"),
                invalid("blank account_id", b -> b.accountId(" "), "account_id must be 1 to 255 characters"),
                invalid("empty api_key_id", b -> b.apiKeyId(""), "api_key_id must be 1 to 255"),
                invalid("id too long", b -> b.eventId("r".repeat(256)), "event_id must be 1 to 255"),
                invalid(
                        "NUL in an id",
                        b -> b.accountId("acc\u0000"),
                        "account_id must be 1 to 255 characters without"),
                invalid("control character in an id", b -> b.model("m\u0085"), "model must be 1 to 255"),
                invalid("unpaired high surrogate", b -> b.eventId("req\uD83D"), "event_id must be 1 to 255"),
                invalid("unpaired low surrogate", b -> b.instanceId("\uDE00i"), "instance_id must be 1 to 255"),
                invalid("null endpoint", b -> b.endpoint(null), "endpoint must not be null"),
                invalid("null outcome", b -> b.outcome(null), "outcome must not be null"),
                invalid("negative prompt tokens", b -> b.promptTokens(-1), "prompt_tokens must be >= 0, was -1"),
                invalid("negative completion tokens", b -> b.completionTokens(-5), "completion_tokens must be >= 0"),
                invalid("token overflow", b -> b.promptTokens(Integer.MAX_VALUE), "exceeds 2147483647"),
                invalid("zero choices", b -> b.n(0), "n must be >= 1, was 0"),
                invalid("negative queue", b -> b.queueMs(-1L), "queue_ms must be >= 0"),
                invalid("negative ttft", b -> b.timeToFirstTokenMs(-1L), "time_to_first_token_ms must be >= 0"),
                invalid("negative duration", b -> b.durationMs(-1), "duration_ms must be >= 0"),
                invalid("status out of range", b -> b.httpStatus(700), "http_status must be 100 to 599"),
                invalid("completed with 5xx", b -> b.httpStatus(500), "outcome completed needs a 2xx"),
                invalid(
                        "rejected with 5xx",
                        b -> b.outcome(Outcome.REJECTED).httpStatus(503),
                        "outcome rejected needs a 4xx"),
                invalid("tier without model", b -> b.model(null).modelAlias(null), "model and price_tier"),
                invalid("upper-case tier", b -> b.priceTier("Small"), "price_tier must be a lower-case name"),
                invalid("alias without model", b -> b.model(null).priceTier(null), "model_alias 'llama-small'"),
                invalid(
                        "billable without model",
                        b -> b.model(null).modelAlias(null).priceTier(null),
                        "a billable event needs model and price_tier"),
                invalid("null received_at", b -> b.receivedAt(null), "received_at must not be null"),
                invalid("null occurred_at", b -> b.occurredAt(null), "occurred_at must not be null"));
    }

    private static Arguments invalid(String name, UnaryOperator<UsageEvent.Builder> change, String message) {
        return Arguments.of(name, change, message);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalidEvents")
    void invariantsRejectBadValues(String name, UnaryOperator<UsageEvent.Builder> change, String message) {
        assertThatThrownBy(() -> change.apply(Fixtures.usage()).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }

    @Test
    void canonicalConstructorRejectsInconsistentDerivedValues() {
        UsageEvent valid = Fixtures.usage().build();

        assertThatThrownBy(() -> copy(valid, 2, valid.totalTokens(), valid.billable()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("schema_version must be 1, was 2");
        assertThatThrownBy(() -> copy(valid, 1, 171, valid.billable()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("total_tokens must be prompt_tokens + completion_tokens = 170, was 171");
        assertThatThrownBy(() -> copy(valid, 1, valid.totalTokens(), false))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("billable must be true for outcome completed with output, was false");
    }

    private static UsageEvent copy(UsageEvent e, int schemaVersion, int totalTokens, boolean billable) {
        return new UsageEvent(
                schemaVersion,
                e.eventId(),
                e.accountId(),
                e.apiKeyId(),
                e.model(),
                e.modelAlias(),
                e.priceTier(),
                e.endpoint(),
                e.stream(),
                e.outcome(),
                billable,
                e.httpStatus(),
                e.promptTokens(),
                e.completionTokens(),
                totalTokens,
                e.n(),
                e.queueMs(),
                e.timeToFirstTokenMs(),
                e.durationMs(),
                e.instanceId(),
                e.receivedAt(),
                e.occurredAt());
    }
}
