package io.flatfare.contracts.events;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;

/** Valid events to start from, and JSON surgery on them. */
final class Fixtures {

    static final Instant RECEIVED = Instant.parse("2026-11-30T23:59:58.250Z");
    static final Instant OCCURRED = Instant.parse("2026-11-30T23:59:59.999123456Z");

    private static final ObjectMapper PLAIN = new ObjectMapper();

    private Fixtures() {}

    static UsageEvent.Builder usage() {
        return UsageEvent.builder()
                .eventId("req_01JD8Z6Q4N7K2M3P5R6S7T8V9W")
                .accountId("acc_7f3a")
                .apiKeyId("key_19c2")
                .model("llama-3.1-8b-instruct")
                .modelAlias("llama-small")
                .priceTier("small")
                .endpoint(Endpoint.CHAT_COMPLETIONS)
                .stream(true)
                .outcome(Outcome.COMPLETED)
                .httpStatus(200)
                .promptTokens(42)
                .completionTokens(128)
                .n(2)
                .queueMs(3L)
                .timeToFirstTokenMs(85L)
                .durationMs(1749)
                .instanceId("inference-small-0")
                .receivedAt(RECEIVED)
                .occurredAt(OCCURRED);
    }

    static RatedUsage.Builder rated() {
        return RatedUsage.forUsage(usage().build())
                .planId("team")
                .unitPriceMicros(2_000)
                .currency("USD")
                .includedInPlan(false)
                .ratedAt(Instant.parse("2026-12-01T00:00:00.412Z"))
                .priceVersion(3)
                .priceEffectiveFrom(Instant.parse("2026-10-01T00:00:00Z"));
    }

    static ObjectNode tree(Object event) {
        try {
            return (ObjectNode) PLAIN.readTree(EventJson.toJson(event));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String json(ObjectNode node) {
        return node.toString();
    }
}
