package io.flatfare.inference.engine;

/**
 * A validated request with its rendered prompt, its prompt token count and the effective output limit.
 * {@code grammar} is the GBNF grammar for JSON output, or null.
 */
public record PreparedGeneration(
        GenerationRequest request, String prompt, int promptTokens, int maxTokens, String grammar) {}
