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

    /**
     * {@link #release} without waiting for the shared store's answer: the release is sent before this returns and
     * recorded moments later. For the end of a request, so that its answer is not held back by a round trip to the
     * store (nor a network thread blocked on it). Idempotent; never throws.
     */
    default void releaseInBackground(boolean billable) {
        release(billable);
    }

    /**
     * Takes the admission back as if the request had never been admitted: frees its slot and gives it back to the
     * monthly quota and to the rate. For a request admitted before its checks ran (so that the round trip to the
     * shared store overlaps them) that then failed them. Does not wait, like {@link #releaseInBackground}; instead of
     * a release, not after one. Idempotent; never throws.
     */
    default void withdraw() {
        releaseInBackground(false);
    }
}
