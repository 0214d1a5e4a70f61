package io.flatfare.inference.engine;

import java.util.function.ToIntFunction;

/**
 * What tokenizing a text costs one model, measured once at load: a part per fragment (llama.cpp splits a text at
 * every special token and pre-tokenizes each piece on its own) and a part per character. The fragment part is what
 * differs between models: llama.cpp splits GPT-2's and Llama 3's patterns with its own code (microseconds), every
 * other pattern (Qwen2's, DeepSeek's, …) with {@code std::regex} objects built on every call (half a millisecond per
 * fragment on a 2-core build machine), so a chat prompt of a few messages takes milliseconds.
 */
public record TokenizerCost(long fragmentNanos, double charNanos) {

    /** The characters of the text timed for the per-character part: short enough for any thread's stack. */
    static final int SAMPLE_CHARS = 256;

    private static final String SAMPLE_UNIT = "The keeper climbed the stairs at dusk, 42 steps; lit the lamp. ";

    public TokenizerCost {
        if (fragmentNanos < 0 || !(charNanos >= 0)) {
            throw new IllegalArgumentException("negative tokenizer cost: " + fragmentNanos + " ns, " + charNanos);
        }
    }

    /** About how long tokenizing {@code chars} characters in {@code fragments} pieces takes. */
    public long nanos(long fragments, long chars) {
        return Math.addExact(Math.multiplyExact(fragments, fragmentNanos), (long) Math.ceil(chars * charNanos));
    }

    /**
     * Times {@code encode} on a one-character text and on a {@value #SAMPLE_CHARS}-character one, {@code runs} times
     * each, and keeps the fastest of each: the cost itself, not the moments the thread waited for a core.
     */
    public static TokenizerCost measure(ToIntFunction<String> encode, int runs) {
        if (runs < 1) {
            throw new IllegalArgumentException("runs must be at least 1: " + runs);
        }
        String sample =
                SAMPLE_UNIT.repeat(SAMPLE_CHARS / SAMPLE_UNIT.length() + 1).substring(0, SAMPLE_CHARS);
        long one = fastest(encode, "a", runs);
        long many = fastest(encode, sample, runs);
        return new TokenizerCost(one, Math.max(0, many - one) / (double) (SAMPLE_CHARS - 1));
    }

    private static long fastest(ToIntFunction<String> encode, String text, int runs) {
        long best = Long.MAX_VALUE;
        for (int i = 0; i < runs; i++) {
            long start = System.nanoTime();
            encode.applyAsInt(text);
            best = Math.min(best, System.nanoTime() - start);
        }
        return best;
    }

    @Override
    public String toString() {
        return String.format("%.1f µs per fragment + %.3f µs per character", fragmentNanos / 1e3, charNanos / 1e3);
    }
}
