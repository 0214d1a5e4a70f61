package io.flatfare.gateway.api.dto;

import com.fasterxml.jackson.databind.JsonNode;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;

/** {@code POST /v1/embeddings}; {@code input} is a string or an array of strings. */
public record EmbeddingRequest(
        @NotBlank String model,
        @NotNull JsonNode input,

        @Pattern(regexp = "float|base64", message = "must be float or base64")
        String encodingFormat,

        @Min(1) Integer dimensions,
        String user) {}
