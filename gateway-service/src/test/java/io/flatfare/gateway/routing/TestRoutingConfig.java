package io.flatfare.gateway.routing;

import java.time.Duration;

/** Routing settings for tests that build the routing classes themselves. */
record TestRoutingConfig(
        Duration refreshInterval,
        Duration maxStaleness,
        Duration registryTimeout,
        int maxAttempts,
        Duration unavailableBackoff,
        int maxResponseBytes)
        implements RoutingConfig {

    /** Refreshes only when a test asks, so each test decides what the view holds. */
    static TestRoutingConfig manualRefresh() {
        return new TestRoutingConfig(
                Duration.ofHours(1), Duration.ofHours(1), Duration.ofSeconds(5), 3, Duration.ofMinutes(5), 64 << 20);
    }

    TestRoutingConfig withRefreshInterval(Duration value) {
        return new TestRoutingConfig(
                value, maxStaleness, registryTimeout, maxAttempts, unavailableBackoff, maxResponseBytes);
    }

    TestRoutingConfig withMaxStaleness(Duration value) {
        return new TestRoutingConfig(
                refreshInterval, value, registryTimeout, maxAttempts, unavailableBackoff, maxResponseBytes);
    }
}
