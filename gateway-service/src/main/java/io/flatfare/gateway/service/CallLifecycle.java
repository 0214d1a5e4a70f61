package io.flatfare.gateway.service;

import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.gateway.usage.UsageRecorder;
import io.quarkus.logging.Log;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Clock;

/**
 * Ends a {@code /v1} call exactly once: one usage event (for authenticated callers), the limiter's admission
 * released, and the request metrics. Never throws: whatever happens here must not turn into a client error.
 */
@ApplicationScoped
public class CallLifecycle {

    private final UsageRecorder usage;
    private final GatewayMetrics metrics;
    private final Clock clock;

    public CallLifecycle(UsageRecorder usage, GatewayMetrics metrics) {
        this.usage = usage;
        this.metrics = metrics;
        this.clock = Clock.systemUTC();
    }

    /** Counts a call that reached inference as in flight for its model until {@link #finish}. */
    public void inferenceStarted(V1Call call) {
        if (call.isWarmUp()) {
            return;
        }
        metrics.started(call.model().id());
    }

    /**
     * Ends the call. {@code httpStatus} is the status sent (200 for a stream that began; 499 when the client left
     * before a status was sent).
     */
    public void finish(V1Call call, Outcome outcome, int httpStatus, boolean countedInFlight) {
        if (!call.finish()) {
            return;
        }
        long durationNanos = System.nanoTime() - call.startNanos();
        boolean billable = outcome.isBillable(call.hasOutput());
        try {
            if (call.admission() != null) {
                // Not waited for: no answer is held back by a Redis round trip, nor the gRPC thread this often runs
                // on blocked. A call that did not pass its checks was admitted early: as if it had never been.
                if (call.checked()) {
                    call.admission().releaseInBackground(billable);
                } else {
                    call.admission().withdraw();
                }
            }
        } catch (RuntimeException e) {
            Log.warnf(e, "Releasing the limits of request %s failed", call.eventId());
        }
        if (call.isWarmUp()) {
            return; // the warm-up's own request through the API: nothing to count or bill
        }
        if (countedInFlight && call.model() != null) {
            metrics.ended(call.model().id());
        }
        String model = call.model() == null ? null : call.model().id();
        metrics.finished(
                call.endpoint() == null ? "unknown" : call.endpoint().path(),
                model,
                httpStatus,
                outcome.wireName(),
                durationNanos,
                call.timeToFirstTokenMs());
        if (call.caller() == null || call.endpoint() == null) {
            return; // Not authenticated: nobody to bill, no event.
        }
        if (call.isUnrecorded()) {
            return; // Refused because usage could not be kept: neither could its own event be.
        }
        try {
            usage.record(usageEvent(call, outcome, httpStatus, durationNanos), call.traceHeaders());
        } catch (RuntimeException e) {
            // A usage event that cannot even be built is a bug; it must be loud, and the client still gets its answer.
            Log.errorf(e, "Could not record the usage event of request %s", call.eventId());
        }
    }

    /**
     * Ends a call whose endpoint never ran: its body never arrived (the client left, or it was refused with 408).
     * Nothing is recorded, as for any request refused before its endpoint; an admission asked for early is withdrawn
     * (now, or as it arrives: see {@code V1Guard#keep}).
     */
    public void abandon(V1Call call) {
        if (!call.finish()) {
            return;
        }
        try {
            if (call.admission() != null) {
                call.admission().withdraw();
            }
        } catch (RuntimeException e) {
            Log.warnf(e, "Withdrawing the admission of request %s failed", call.eventId());
        }
    }

    /**
     * Runs what the end of a completed call runs on the request's thread, on a call the warm-up made up, and records
     * nothing: the usage event is built and prepared for the journal but not handed over, and the metrics' code runs
     * on meters of its own that are removed again.
     */
    public void warmUp(V1Call call) {
        usage.warmUp(
                usageEvent(call, Outcome.COMPLETED, 200, System.nanoTime() - call.startNanos()), call.traceHeaders());
        metrics.warmUp();
    }

    private UsageEvent usageEvent(V1Call call, Outcome outcome, int httpStatus, long durationNanos) {
        String model = call.model() == null ? null : call.model().id();
        String alias = call.model() != null
                        && call.requestedModel() != null
                        && !call.requestedModel().equals(model)
                ? call.requestedModel()
                : null;
        return UsageEvent.builder()
                .eventId(call.eventId())
                .accountId(call.caller().accountId())
                .apiKeyId(call.caller().apiKeyId())
                .model(model)
                .modelAlias(alias)
                .priceTier(call.model() == null ? null : call.model().priceTier())
                .endpoint(call.endpoint())
                .stream(call.stream())
                .outcome(outcome)
                .httpStatus(httpStatus)
                .promptTokens(call.promptTokens())
                .completionTokens(call.completionTokens())
                .n(call.n())
                .queueMs(call.queueMs())
                .timeToFirstTokenMs(call.timeToFirstTokenMs())
                .durationMs(durationNanos / 1_000_000)
                .instanceId(call.instanceId())
                .receivedAt(call.receivedAt())
                .occurredAt(clock.instant())
                .build();
    }
}
