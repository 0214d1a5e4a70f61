package io.flatfare.gateway.usage;

import io.flatfare.contracts.events.UsageEvent;
import java.util.Map;

/**
 * Takes one {@link UsageEvent} per finished request and delivers it to Kafka ({@code flatfare.usage.v1}, key =
 * account id) at least once, keeping it on local disk until the broker has acknowledged it, so an event survives a
 * slow or absent broker and a graceful restart. Consumers are idempotent on the event id.
 */
public interface UsageRecorder {

    /**
     * Hands an event over for delivery; never blocks on Kafka and never throws for a broker problem.
     *
     * @param event the event
     * @param headers trace-context headers (W3C {@code traceparent}, {@code tracestate}) to put on the Kafka record: the
     *     request's, as captured when it arrived; none are taken from the calling thread
     */
    void record(UsageEvent event, Map<String, String> headers);

    /**
     * Does what {@link #record} does on the calling thread before the event is handed over (serialization, headers,
     * checks), and hands nothing over: for the warm-up.
     */
    default void warmUp(UsageEvent event, Map<String, String> headers) {}

    /**
     * Whether a new request may be served, its event being sure to be kept; when false, the request is refused
     * before any work (503) and records no event. Called for every request: no I/O.
     */
    boolean accepting();

    /** Events handed over and not yet acknowledged by Kafka. */
    long backlog();
}
