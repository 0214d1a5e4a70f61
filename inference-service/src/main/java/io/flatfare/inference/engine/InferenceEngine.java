package io.flatfare.inference.engine;

import java.util.List;

/**
 * One resident model behind one interface; llama.cpp is one implementation. Implementations validate every
 * parameter before it reaches native code and throw {@link InvalidRequestException} instead.
 *
 * <p>Threading: {@link #stream} and {@link #embed} block the calling thread for the whole call and must be
 * called from a platform thread (the service runs them on a pool sized to the model's slots); at most
 * {@link ModelInfo#slots()} calls may run at once.
 */
public interface InferenceEngine extends AutoCloseable {

    ModelInfo info();

    /**
     * Checks a request against this model (ranges, prompt length plus max tokens against the context, stop
     * strings, logit bias token ids, JSON schema) and renders its prompt, without touching a slot. Cheap
     * enough to call before admission, so a bad request never waits in the queue.
     */
    PreparedGeneration prepare(GenerationRequest request);

    /**
     * Generates every choice of a prepared request, one after another in this thread, reporting text as it
     * is produced. Returns when all choices finished, or early when {@code cancel} says so (the native
     * stream is cancelled at once, within one token).
     */
    GenerationResult stream(PreparedGeneration generation, GenerationSink sink, CancellationSignal cancel);

    /** Non-streaming convenience: the text of each choice. */
    default CompletedGeneration generate(PreparedGeneration generation, CancellationSignal cancel) {
        var collector = new CollectingSink(generation.request().n());
        var result = stream(generation, collector, cancel);
        return new CompletedGeneration(collector.texts(), result);
    }

    /** One vector per input, in order; only for models loaded in embeddings mode. */
    EmbeddingResult embed(List<String> inputs, int dimensions, CancellationSignal cancel);

    /** Tokens of {@code text} as this model counts them (for usage and context checks). */
    int countTokens(String text);

    /** What tokenizing costs this model, measured at load (how much of a prompt's preparation an event loop can take). */
    TokenizerCost tokenizerCost();

    /** A short generation that touches every code path a request uses; run once before readiness. */
    void warmUp();

    /** Frees what can be freed; never called while a stream runs. */
    @Override
    void close();
}
