package io.flatfare.gateway.api.dto;

import com.fasterxml.jackson.databind.JsonNode;
import jakarta.validation.Valid;
import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.DecimalMin;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import java.util.Map;

/** The legacy {@code POST /v1/completions}; {@code prompt} is a string or an array of strings (a batch). */
public record CompletionRequest(
        @NotBlank String model,
        @NotNull JsonNode prompt,
        Boolean stream,
        @Valid StreamOptions streamOptions,
        @Min(1) @Max(128) Integer n,
        @Min(1) Integer bestOf,
        @Min(1) Integer maxTokens,
        JsonNode stop,
        @DecimalMin("0") @DecimalMax("2") Double temperature,
        @DecimalMin("0") @DecimalMax("1") Double topP,
        Long seed,
        @DecimalMin("-2") @DecimalMax("2") Double presencePenalty,
        @DecimalMin("-2") @DecimalMax("2") Double frequencyPenalty,
        Map<String, @NotNull @DecimalMin("-100") @DecimalMax("100") Double> logitBias,
        @Min(0) @Max(5) Integer logprobs,
        Boolean echo,
        String suffix,
        String user) {}
