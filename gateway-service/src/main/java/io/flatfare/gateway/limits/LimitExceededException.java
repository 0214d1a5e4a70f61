package io.flatfare.gateway.limits;

import java.time.Duration;
import java.util.Optional;

/** A plan limit refused a request. */
public final class LimitExceededException extends RuntimeException {

    public enum Kind {
        /** Requests per minute: 429 {@code rate_limit_exceeded}, retry after {@link #retryAfter()}. */
        RATE,
        /** Requests in flight: 429 {@code rate_limit_exceeded}, retry after {@link #retryAfter()}. */
        CONCURRENCY,
        /** Monthly quota: 429 {@code insufficient_quota}, {@code x-should-retry: false}. */
        QUOTA
    }

    private final Kind kind;
    private final Duration retryAfter;
    private final RateLimitStatus rate;

    public LimitExceededException(Kind kind, String message, Duration retryAfter, RateLimitStatus rate) {
        super(message, null, false, false);
        this.kind = kind;
        this.retryAfter = retryAfter;
        this.rate = rate;
    }

    public Kind kind() {
        return kind;
    }

    /** When a retry may succeed; for {@link Kind#QUOTA} the start of the next month. */
    public Duration retryAfter() {
        return retryAfter;
    }

    /** The rate-limit state for the response headers, when the plan has a rate limit. */
    public Optional<RateLimitStatus> rate() {
        return Optional.ofNullable(rate);
    }
}
