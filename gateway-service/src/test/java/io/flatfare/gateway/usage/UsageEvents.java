package io.flatfare.gateway.usage;

import io.flatfare.contracts.events.Endpoint;
import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.UsageEvent;
import java.time.Instant;

/** Valid usage events for tests. */
final class UsageEvents {

    private UsageEvents() {}

    static UsageEvent event(String eventId) {
        Instant received = Instant.parse("2026-11-30T12:00:00.250Z");
        return UsageEvent.builder()
                .eventId(eventId)
                .accountId("acc_" + Math.floorMod(eventId.hashCode(), 7))
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
                .n(1)
                .queueMs(3L)
                .timeToFirstTokenMs(85L)
                .durationMs(1749)
                .instanceId("inference-small-0")
                .receivedAt(received)
                .occurredAt(received.plusMillis(1749))
                .build();
    }
}
