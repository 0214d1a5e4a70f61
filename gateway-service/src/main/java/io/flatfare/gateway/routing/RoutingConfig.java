package io.flatfare.gateway.routing;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/** Model resolution through the registry and routing of inference calls. */
@ConfigMapping(prefix = "flatfare.gateway.routing")
public interface RoutingConfig {

    /** How often the catalog and the ready instances of every active model are fetched from the registry. */
    @WithDefault("2s")
    Duration refreshInterval();

    /**
     * How long the last good view of the registry is served while the registry cannot be reached; then 503. Long
     * enough to ride out a restart or failover of the registry or its database: each call still finds out for itself
     * whether an instance of the view answers (one that refuses is left out for {@link #unavailableBackoff()} and the
     * call tried on another), so a stale view costs finding new instances late, not calls to dead ones.
     */
    @WithDefault("10m")
    Duration maxStaleness();

    /** Deadline of every call to the registry. */
    @WithDefault("2s")
    Duration registryTimeout();

    /** The most instances one inference call is tried on (first try included); retries happen only before output. */
    @WithDefault("3")
    int maxAttempts();

    /** How long this gateway leaves out of routing an instance whose call failed with UNAVAILABLE. */
    @WithDefault("10s")
    Duration unavailableBackoff();

    /** The largest response message accepted from an inference instance (large embedding batches), in bytes. */
    @WithDefault("67108864")
    int maxResponseBytes();
}
