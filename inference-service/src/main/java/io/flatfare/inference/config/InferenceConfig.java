package io.flatfare.inference.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import io.smallrye.config.WithName;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/** Configuration under {@code flatfare.inference}; every key is listed in the module README. */
@ConfigMapping(prefix = "flatfare.inference")
public interface InferenceConfig {

    /** The models this instance keeps resident, by model id (the registry's canonical id). */
    Map<String, ModelConfig> models();

    /** This instance's id in the registry. Default: the host name plus a random suffix. */
    Optional<String> instanceId();

    /**
     * The {@code host:port} other services reach this instance's gRPC at. Default: the host name and the
     * HTTP port (gRPC shares it).
     */
    Optional<String> advertisedAddress();

    /** A pre-extracted llama.cpp JNI library directory (e.g. a CUDA build), else the bundled CPU one. */
    Optional<Path> nativeLibraryPath();

    /** Where the bundled native library is extracted, once. */
    @WithDefault("${java.io.tmpdir}/flatfare-llama")
    Path nativeExtractDirectory();

    /** How long shutdown waits for in-flight generations before closing anyway. */
    @WithDefault("30s")
    Duration drainTimeout();

    /** The retry hint sent with RESOURCE_EXHAUSTED when a model's slots and queue are full. */
    @WithDefault("1s")
    Duration retryAfter();

    /**
     * The shortest time between two streamed messages of one call: text generated sooner joins the next message.
     * The first text of a call is sent at once. 0 sends every piece of text as soon as the event loop is free.
     */
    @WithDefault("10ms")
    Duration streamInterval();

    /**
     * The time, in microseconds, a call's prompt may take to tokenize on its event loop, as the model's tokenizer cost
     * measured at load predicts it; a costlier prompt (and any over 4,096 characters) is prepared on a worker thread.
     * The event loop carries every other call of its connections (a gateway's calls share one), so its time is theirs;
     * a worker costs the call one thread hand-off instead. 0 prepares every prompt on a worker.
     */
    @WithDefault("250")
    long eventLoopTokenizeMicros();

    /**
     * Before reporting ready, call this instance's own gRPC service once per model (after the engine's warm-up), so
     * that the first real call does not load the service's call path; false only to measure without it.
     */
    @WithDefault("true")
    boolean serviceWarmUp();

    Registry registry();

    interface ModelConfig {

        /** The GGUF file. */
        Path path();

        /** Requests generated at once (llama.cpp parallel sequences with continuous batching). */
        @WithDefault("2")
        int slots();

        /** Requests that may wait for a slot; beyond that calls fail at once with RESOURCE_EXHAUSTED. */
        @WithDefault("8")
        int queue();

        /** Context per request: prompt plus output tokens. */
        @WithDefault("2048")
        int context();

        /** CPU threads for generation. */
        @WithDefault("1")
        int threads();

        /** Layers offloaded to the GPU; -1 means all of them when the native library has a GPU backend. */
        @WithName("gpu-layers")
        @WithDefault("-1")
        int gpuLayers();

        /** Load for embeddings (Embed) instead of generation. */
        @WithDefault("false")
        boolean embeddings();

        /** The largest {@code n} (choices per request) accepted. */
        @WithName("max-choices")
        @WithDefault("8")
        int maxChoices();

        /**
         * llama.cpp's flash attention. Off by default: on the 2-core CPU build machine it generated four concurrent
         * streams about a third faster and one stream about a tenth slower (see the module README); on a GPU it is
         * llama.cpp's usual choice. A model's fingerprint includes it, as outputs may differ in the last bits.
         */
        @WithName("flash-attention")
        @WithDefault("false")
        boolean flashAttention();
    }

    interface Registry {

        /** Register with the model registry after warm-up, heartbeat, and deregister on shutdown. */
        @WithDefault("true")
        boolean enabled();

        /** Deadline of each registry call. */
        @WithDefault("5s")
        Duration callTimeout();
    }
}
