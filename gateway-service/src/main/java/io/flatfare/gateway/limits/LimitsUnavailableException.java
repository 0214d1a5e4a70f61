package io.flatfare.gateway.limits;

import java.time.Duration;

/** The shared limit store is unreachable and the configured policy refuses requests meanwhile (503). */
public final class LimitsUnavailableException extends RuntimeException {

    private final Duration retryAfter;

    public LimitsUnavailableException(String message, Duration retryAfter, Throwable cause) {
        super(message, cause, false, false);
        this.retryAfter = retryAfter;
    }

    public Duration retryAfter() {
        return retryAfter;
    }
}
