package io.flatfare.inference.engine;

import java.util.List;

public record EmbeddingResult(List<float[]> vectors, int promptTokens) {}
