package io.flatfare.gateway.limits;

import io.flatfare.gateway.limits.LimitExceededException.Kind;
import java.time.Duration;

/**
 * One admission decision, by Redis or by the local fallback.
 *
 * @param refused the limit that refused the request, or null when it was admitted
 * @param retryAfter when a retry may succeed (refusals only)
 * @param rate the rate-limit state, or null when the plan has no rate limit
 * @param month the calendar month the request was counted in (Redis admissions with a quota), for the refund
 */
record Verdict(Kind refused, Duration retryAfter, RateLimitStatus rate, long month) {

    boolean admitted() {
        return refused == null;
    }
}
