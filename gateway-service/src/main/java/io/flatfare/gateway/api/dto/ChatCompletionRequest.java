package io.flatfare.gateway.api.dto;

import com.fasterxml.jackson.databind.JsonNode;
import jakarta.validation.Valid;
import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.DecimalMin;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.NotNull;
import java.util.List;
import java.util.Map;

/**
 * {@code POST /v1/chat/completions}. Fields that may be a string or an array ({@code stop}, message content) and
 * features this release refuses ({@code tools}, {@code audio}, ...) are kept as JSON and checked by hand. Unknown
 * fields are ignored: the SDKs keep adding them.
 */
public record ChatCompletionRequest(
        @NotBlank String model,
        @NotEmpty List<@NotNull @Valid ChatMessage> messages,
        Boolean stream,
        @Valid StreamOptions streamOptions,
        @Min(1) @Max(128) Integer n,
        @Min(1) Integer maxTokens,
        @Min(1) Integer maxCompletionTokens,
        JsonNode stop,
        @DecimalMin("0") @DecimalMax("2") Double temperature,
        @DecimalMin("0") @DecimalMax("1") Double topP,
        Long seed,
        @DecimalMin("-2") @DecimalMax("2") Double presencePenalty,
        @DecimalMin("-2") @DecimalMax("2") Double frequencyPenalty,
        Map<String, @NotNull @DecimalMin("-100") @DecimalMax("100") Double> logitBias,
        Boolean logprobs,
        @Min(0) @Max(20) Integer topLogprobs,
        @Valid ResponseFormat responseFormat,
        String user,
        JsonNode tools,
        JsonNode toolChoice,
        Boolean parallelToolCalls,
        JsonNode functions,
        JsonNode functionCall,
        JsonNode audio,
        JsonNode modalities,
        JsonNode prediction,
        JsonNode webSearchOptions) {

    /** One message; {@code content} is a string, an array of parts, or null (assistant messages). */
    public record ChatMessage(
            @NotBlank String role,
            JsonNode content,
            String name,
            JsonNode toolCalls,
            String toolCallId,
            JsonNode functionCall,
            JsonNode audio) {}
}
