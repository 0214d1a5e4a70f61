package io.flatfare.inference.engine;

/**
 * How a generation ended. {@code completionTokens} sums all choices; {@code cancelled} is true when the
 * cancellation signal stopped it (then not every choice finished).
 */
public record GenerationResult(int promptTokens, int completionTokens, long timeToFirstTokenNanos, boolean cancelled) {

    public int totalTokens() {
        return promptTokens + completionTokens;
    }
}
