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

    /**
     * How long a request's body may take to arrive, from its headers; past it the client gets 408 (which the OpenAI
     * SDKs retry) and the connection is closed (HTTP/1.1) or the stream reset (HTTP/2). Without it, a client that
     * stops sending halfway holds its connection and the part of the body read so far until the idle timeout.
     */
    @WithDefault("60s")
    Duration bodyTimeout();

    /** Retry-After sent with 503: no instance of a model is ready, or API keys or stored responses cannot be read. */
    @WithDefault("2s")
    Duration unavailableRetryAfter();

    /**
     * In a stream that has not sent its first chunk yet (waiting for a slot, or for a long prompt to be read), a
     * comment line {@code : keep-alive} this often, so that proxies do not close it as idle; 0s: none.
     */
    @WithDefault("15s")
    Duration streamKeepAlive();

    /**
     * How many prompts one {@code /v1/completions} request may carry (an array of strings, as LangChain's batches send
     * them; its default batch of 20 needs 20). They run one after another, as the choices of {@code n} do, so a
     * request holds one inference slot at a time, and they share the request's plan limits and its one flat price.
     */
    @WithDefault("8")
    int maxPrompts();

    /** How many texts one embeddings request may carry. */
    @WithDefault("2048")
    int maxEmbeddingInputs();
}
