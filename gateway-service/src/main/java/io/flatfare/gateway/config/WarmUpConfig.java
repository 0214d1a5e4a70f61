package io.flatfare.gateway.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/** What the gateway does before it reports ready ({@code flatfare.gateway.warm-up.*}). */
@ConfigMapping(prefix = "flatfare.gateway.warm-up")
public interface WarmUpConfig {

    /**
     * Open Redis and every inference channel, and run the gRPC call path once, before reporting ready; false only to
     * measure the gateway without it.
     */
    @WithDefault("true")
    boolean enabled();

    /** The longest one warm-up call waits for an inference instance. */
    @WithDefault("5s")
    Duration timeout();
}
