package io.flatfare.contracts.events;

import com.fasterxml.jackson.annotation.JsonValue;

/** How a request ended. Together with whether output was produced it decides billability (flat-fare rules). */
public enum Outcome {
    /** The response was delivered in full (HTTP 2xx). Billable. */
    COMPLETED("completed"),
    /**
     * The client closed the connection before the response was complete. Billable only if output was produced,
     * i.e. the first token (or the one-piece result) existed before the client left.
     */
    CLIENT_CANCELLED("client_cancelled"),
    /**
     * Refused because of the request itself (HTTP 4xx): invalid body, model unknown or not in the plan, prompt
     * or output over the plan's caps, quota or rate limit exceeded. Never billable.
     */
    REJECTED("rejected"),
    /**
     * A platform failure (HTTP 5xx, or an error after a stream had started): no ready instance, inference
     * error, registry unreachable. Never billable, even if some output had been streamed.
     */
    FAILED("failed"),
    /** The platform did not finish before the request's deadline (HTTP 504, or cut mid-stream). Never billable. */
    TIMEOUT("timeout");

    private final String wireName;

    Outcome(String wireName) {
        this.wireName = wireName;
    }

    @JsonValue
    public String wireName() {
        return wireName;
    }

    /**
     * The flat-fare rule: a request is billable when it produced output, including a stream the client abandoned
     * after the first token; rejections, platform failures, timeouts and cancellations before the first token
     * are free.
     */
    public boolean isBillable(boolean outputProduced) {
        return switch (this) {
            case COMPLETED -> true;
            case CLIENT_CANCELLED -> outputProduced;
            case REJECTED, FAILED, TIMEOUT -> false;
        };
    }
}
