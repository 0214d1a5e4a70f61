package io.flatfare.gateway.limits;

import java.util.Optional;

/** A request admitted by the {@link RequestLimiter}; hold it until the request ends, then release it once. */
public interface Admission {

    /** The rate-limit state after this request, or empty when the plan has no rate limit. */
    Optional<RateLimitStatus> rate();

    /**
     * Ends the request: frees its concurrency slot. When {@code billable} is false the request is also given back to
     * the monthly quota (a request that produced nothing does not use the quota up). Idempotent; never throws.
     */
    void release(boolean billable);
}
