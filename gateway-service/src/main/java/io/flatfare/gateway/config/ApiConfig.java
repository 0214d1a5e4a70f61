package io.flatfare.gateway.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/** The public {@code /v1} API ({@code flatfare.gateway.api.*}). */
@ConfigMapping(prefix = "flatfare.gateway.api")
public interface ApiConfig {

    /** Deadline of one request from its receipt, streams included; past it the client gets 504 (or an SSE error). */
    @WithDefault("10m")
    Duration requestTimeout();

    /** Largest request body in bytes; a larger one is refused with 413 before anything else happens. */
    @WithDefault("8388608")
    long maxBodyBytes();

    /** Retry-After sent with 503 when no instance of a model is ready. */
    @WithDefault("2s")
    Duration unavailableRetryAfter();

    /** How many texts one embeddings request may carry. */
    @WithDefault("2048")
    int maxEmbeddingInputs();
}
