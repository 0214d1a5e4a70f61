package io.flatfare.inference.engine;

/**
 * What a loaded model is. {@code contextLength} is the context of one slot (one request): prompt plus
 * output must fit in it.
 */
public record ModelInfo(
        String id,
        int contextLength,
        int slots,
        boolean embeddings,
        int embeddingDimensions,
        int gpuLayers,
        int vocabularySize,
        String fingerprint) {}
