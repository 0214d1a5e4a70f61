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

    /**
     * Passes of requests the warm-up sends through the gateway's own HTTP API, over loopback, with a key only it knows
     * and only while it runs: chat and completions (JSON and streamed), Responses, embeddings and models, on the first
     * model of the catalog able to answer each, with one output token. They run what only a request through the API
     * reaches (the HTTP and RESTEasy pipeline, the answer's writer, the first {@code Generate} streams) and record
     * nothing: no usage event, no limit, no request metric. Zero: none.
     */
    @WithDefault("3")
    int httpPasses();
}
