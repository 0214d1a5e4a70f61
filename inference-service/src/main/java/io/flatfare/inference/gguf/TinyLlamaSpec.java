package io.flatfare.inference.gguf;

import java.util.Objects;

/**
 * The sizes of a generated llama-architecture model, its seed and its name.
 *
 * @param embeddingLength width of the residual stream ({@code llama.embedding_length})
 * @param blockCount number of transformer layers
 * @param headCount attention heads; must divide {@code embeddingLength}, and the head size must be even (RoPE)
 * @param headCountKv key/value heads (grouped-query attention); must divide {@code headCount}
 * @param feedForwardLength width of the SwiGLU feed-forward layer
 * @param contextLength the context the model claims to be trained for ({@code llama.context_length})
 * @param weightType element type of the matrices (norm weights are always F32)
 */
public record TinyLlamaSpec(
        String name,
        long seed,
        int embeddingLength,
        int blockCount,
        int headCount,
        int headCountKv,
        int feedForwardLength,
        int contextLength,
        GgmlType weightType) {

    public static final String DEFAULT_NAME = "flatfare-tiny";
    public static final long DEFAULT_SEED = 42;

    public TinyLlamaSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(weightType, "weightType");
        if (name.isBlank()) {
            throw new IllegalArgumentException("name must not be blank");
        }
        positive("embedding length", embeddingLength);
        positive("block count", blockCount);
        positive("head count", headCount);
        positive("kv head count", headCountKv);
        positive("feed-forward length", feedForwardLength);
        positive("context length", contextLength);
        if (embeddingLength % headCount != 0) {
            throw new IllegalArgumentException(
                    "embedding length " + embeddingLength + " is not a multiple of head count " + headCount);
        }
        if ((embeddingLength / headCount) % 2 != 0) {
            throw new IllegalArgumentException("head size " + embeddingLength / headCount + " must be even (RoPE)");
        }
        if (headCount % headCountKv != 0) {
            throw new IllegalArgumentException(
                    "head count " + headCount + " is not a multiple of kv head count " + headCountKv);
        }
    }

    /** 64 wide, 2 layers, 4 heads (2 for keys/values), feed-forward 128, context 2048, F32, seed 42. */
    public static TinyLlamaSpec defaults() {
        return new TinyLlamaSpec(DEFAULT_NAME, DEFAULT_SEED, 64, 2, 4, 2, 128, 2048, GgmlType.F32);
    }

    public int headSize() {
        return embeddingLength / headCount;
    }

    public TinyLlamaSpec withName(String value) {
        return new TinyLlamaSpec(
                value,
                seed,
                embeddingLength,
                blockCount,
                headCount,
                headCountKv,
                feedForwardLength,
                contextLength,
                weightType);
    }

    public TinyLlamaSpec withSeed(long value) {
        return new TinyLlamaSpec(
                name,
                value,
                embeddingLength,
                blockCount,
                headCount,
                headCountKv,
                feedForwardLength,
                contextLength,
                weightType);
    }

    public TinyLlamaSpec withEmbeddingLength(int value) {
        return new TinyLlamaSpec(
                name, seed, value, blockCount, headCount, headCountKv, feedForwardLength, contextLength, weightType);
    }

    public TinyLlamaSpec withBlockCount(int value) {
        return new TinyLlamaSpec(
                name,
                seed,
                embeddingLength,
                value,
                headCount,
                headCountKv,
                feedForwardLength,
                contextLength,
                weightType);
    }

    public TinyLlamaSpec withHeadCount(int value) {
        return new TinyLlamaSpec(
                name,
                seed,
                embeddingLength,
                blockCount,
                value,
                headCountKv,
                feedForwardLength,
                contextLength,
                weightType);
    }

    public TinyLlamaSpec withHeadCountKv(int value) {
        return new TinyLlamaSpec(
                name,
                seed,
                embeddingLength,
                blockCount,
                headCount,
                value,
                feedForwardLength,
                contextLength,
                weightType);
    }

    public TinyLlamaSpec withFeedForwardLength(int value) {
        return new TinyLlamaSpec(
                name, seed, embeddingLength, blockCount, headCount, headCountKv, value, contextLength, weightType);
    }

    public TinyLlamaSpec withContextLength(int value) {
        return new TinyLlamaSpec(
                name, seed, embeddingLength, blockCount, headCount, headCountKv, feedForwardLength, value, weightType);
    }

    public TinyLlamaSpec withWeightType(GgmlType value) {
        return new TinyLlamaSpec(
                name,
                seed,
                embeddingLength,
                blockCount,
                headCount,
                headCountKv,
                feedForwardLength,
                contextLength,
                value);
    }

    private static void positive(String what, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(what + " must be positive, got " + value);
        }
    }
}
