package io.flatfare.metering;

import io.flatfare.contracts.events.Endpoint;
import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.UsageEvent;
import java.time.Instant;
import java.util.UUID;

/** Usage events as the gateway writes them. */
final class Events {

    private Events() {}

    static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    static UsageEvent completed(String account, String tier, Instant at) {
        return base(account, at)
                .model("model-" + tier)
                .priceTier(tier)
                .outcome(Outcome.COMPLETED)
                .httpStatus(200)
                .completionTokens(20)
                .timeToFirstTokenMs(40L)
                .queueMs(1L)
                .instanceId("inference-0")
                .build();
    }

    static UsageEvent rejected(String account, Instant at) {
        return base(account, at).outcome(Outcome.REJECTED).httpStatus(429).build();
    }

    private static UsageEvent.Builder base(String account, Instant at) {
        return UsageEvent.builder()
                .eventId(unique("req"))
                .accountId(account)
                .apiKeyId("key-" + account)
                .endpoint(Endpoint.CHAT_COMPLETIONS)
                .promptTokens(12)
                .durationMs(900)
                .receivedAt(at.minusMillis(900))
                .occurredAt(at);
    }
}
