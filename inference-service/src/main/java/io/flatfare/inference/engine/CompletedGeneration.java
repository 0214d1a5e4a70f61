package io.flatfare.inference.engine;

import java.util.List;

/** The full text of each choice, with how the generation ended. */
public record CompletedGeneration(List<String> texts, GenerationResult result) {}
