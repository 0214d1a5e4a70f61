package io.flatfare.inference.engine;

import java.nio.file.Path;

/**
 * How to load one model. {@code contextLength} is per slot; the native context is {@code contextLength *
 * slots}. {@code gpuLayers} of -1 means all layers when the native library has a GPU backend, else 0.
 * {@code flashAttention} turns on llama.cpp's flash attention (off by default; see the module README).
 */
public record ModelSettings(
        String id,
        Path path,
        int slots,
        int contextLength,
        int threads,
        int gpuLayers,
        boolean embeddings,
        int maxChoices,
        boolean flashAttention) {

    public ModelSettings withContextLength(int value) {
        return new ModelSettings(id, path, slots, value, threads, gpuLayers, embeddings, maxChoices, flashAttention);
    }
}
