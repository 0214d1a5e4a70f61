package io.flatfare.inference.engine;

public enum FinishReason {
    /** The model ended its answer or a stop string matched. */
    STOP,
    /** The output limit was reached. */
    LENGTH
}
