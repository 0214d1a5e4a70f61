package io.flatfare.gateway.limits;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/** Configuration under {@code flatfare.gateway.limits}; every key is listed in the module README. */
@ConfigMapping(prefix = "flatfare.gateway.limits")
public interface LimitsConfig {

    /** What the gateway does while Redis cannot be reached: enforce limits per replica, or refuse requests. */
    enum UnavailablePolicy {
        /** Rate and concurrency are enforced per replica in memory; the monthly quota is not enforced meanwhile. */
        LOCAL,
        /** Every request that needs a limit checked is refused with 503 and a Retry-After. */
        REJECT
    }

    /** The policy while Redis is unreachable: {@code local} or {@code reject}. */
    @WithDefault("local")
    UnavailablePolicy onRedisUnavailable();

    /** The most one Redis call may take before Redis counts as unreachable for this request. */
    @WithDefault("500ms")
    Duration redisTimeout();

    /**
     * After a failed Redis call, how long the gateway applies the unavailable policy without trying Redis, so a dead
     * or hung Redis does not cost every request the timeout; also the Retry-After of the {@code reject} policy.
     */
    @WithDefault("1s")
    Duration redisRetryInterval();

    /**
     * How long an admitted request holds its concurrency slot at most. Must exceed the longest request: a slot whose
     * holder never released it (a crashed replica) is freed after this.
     */
    @WithDefault("10m")
    Duration lease();

    /** The retry hint sent with a concurrency refusal (the end of a request in flight cannot be predicted). */
    @WithDefault("1s")
    Duration concurrencyRetryAfter();
}
