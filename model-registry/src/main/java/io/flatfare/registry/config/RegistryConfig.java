package io.flatfare.registry.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/** Configuration under {@code flatfare.registry}; every key is listed in the module README. */
@ConfigMapping(prefix = "flatfare.registry")
public interface RegistryConfig {

    /**
     * Bearer token for {@code /admin/*}. No default: a registry without one refuses to start, so the admin
     * API is never open by accident.
     */
    String adminToken();

    /** An instance whose last heartbeat is older than this is never routed to and is deleted. */
    @WithDefault("15s")
    Duration instanceTtl();

    /** How often the registry deletes expired instances. */
    @WithDefault("5s")
    Duration reapInterval();
}
