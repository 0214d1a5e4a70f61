package io.flatfare.inference.engine;

/** Receives a generation as it happens, on the engine's thread. Implementations must not block for long. */
public interface GenerationSink {

    /** Text of choice {@code index} since its previous delta; never empty. */
    void onDelta(int index, String text);

    void onChoiceFinished(int index, FinishReason reason);
}
