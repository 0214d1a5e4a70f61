package io.flatfare.inference.engine.llamacpp;

import io.flatfare.inference.engine.ModelSettings;
import java.util.Locale;

/**
 * What llama.cpp allocates for a model at load, estimated from its file and settings. Besides the weights it grows
 * with {@code context x slots} (one KV cache shared by the slots): the KV cache itself (keys and values of every
 * layer, F16), and without flash attention a scratch buffer for the attention of one batch of prompt tokens against
 * all of it (batch x tokens x heads, F32), reserved for the worst case at load and filled as the cache fills. Both
 * terms are lower bounds of what llama.cpp takes (its other buffers are left out), so an estimate above the memory
 * there is cannot be served.
 *
 * @param batch prompt tokens decoded at once ({@code n_ubatch}), 0 with flash attention
 */
record MemoryNeed(long weights, long kvCache, long attentionScratch, long batch, int context, int slots) {

    /** llama.cpp's physical batch ({@code n_ubatch}) when not set: prompt tokens decoded at once. */
    static final long PROMPT_BATCH = 512;

    static MemoryNeed of(ModelSettings settings, GgufModelFile file) {
        long tokens = (long) settings.contextLength() * settings.slots();
        long batch = settings.flashAttention() || file.attentionHeads() == 0
                ? 0
                : settings.embeddings() ? settings.contextLength() : Math.min(PROMPT_BATCH, tokens);
        return new MemoryNeed(
                file.size(),
                saturatedProduct(file.kvBytesPerToken(), tokens),
                saturatedProduct(saturatedProduct(batch, tokens), (long) file.attentionHeads() * Float.BYTES),
                batch,
                settings.contextLength(),
                settings.slots());
    }

    long tokens() {
        return (long) context * slots;
    }

    long total() {
        return saturatedSum(saturatedSum(weights, kvCache), attentionScratch);
    }

    /** "W MiB of weights, about K MiB of KV cache, about S MiB of attention scratch (...) for T tokens of context". */
    String describe() {
        StringBuilder text = new StringBuilder(mebibytes(weights)).append(" of weights");
        if (kvCache > 0) {
            text.append(", about ").append(mebibytes(kvCache)).append(" of KV cache");
        }
        if (attentionScratch > 0) {
            text.append(", about ")
                    .append(mebibytes(attentionScratch))
                    .append(" of attention scratch (")
                    .append(batch)
                    .append(" prompt tokens at a time)");
        }
        return text.append(" for ")
                .append(tokens())
                .append(" tokens of context (")
                .append(context)
                .append(" x ")
                .append(slots)
                .append(" slots)")
                .toString();
    }

    static String mebibytes(long bytes) {
        return String.format(Locale.ROOT, "%,d MiB", bytes / (1 << 20) + (bytes % (1 << 20) == 0 ? 0 : 1));
    }

    private static long saturatedProduct(long a, long b) {
        long high = Math.multiplyHigh(a, b);
        long product = a * b;
        return high != 0 || product < 0 ? Long.MAX_VALUE : product;
    }

    private static long saturatedSum(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }
}
