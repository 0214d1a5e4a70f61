package io.flatfare.gateway.api.dto;

import com.fasterxml.jackson.databind.JsonNode;
import jakarta.validation.Valid;
import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.DecimalMin;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Size;
import java.util.Map;

/**
 * {@code POST /v1/responses}: the conversation comes in {@code input}, after a stored one named by
 * {@code previous_response_id}. {@code input} may be a string or an array of items, so it is kept as JSON and checked
 * by hand, as are the features this release refuses (tools, conversations, ...). Unknown fields are ignored: the SDKs
 * keep adding them. {@code metadata} is OpenAI's: at most 16 string pairs, keys up to 64 characters, values up to 512
 * (it was any JSON, echoed back and stored as sent, which typed SDKs then failed to read).
 */
public record ResponseRequest(
        @NotBlank String model,
        @NotNull JsonNode input,
        String instructions,
        Boolean stream,
        @Min(1) Integer maxOutputTokens,
        @DecimalMin("0") @DecimalMax("2") Double temperature,
        @DecimalMin("0") @DecimalMax("1") Double topP,
        @Valid Text text,
        Boolean store,

        @Size(max = 16, message = "must have at most 16 pairs")
        Map<
                        @Size(max = 64, message = "must be a key of at most 64 characters") String,
                        @NotNull @Size(max = 512, message = "must be a string of at most 512 characters") String>
                metadata,

        String user,
        JsonNode reasoning,
        JsonNode tools,
        JsonNode toolChoice,
        Boolean parallelToolCalls,
        String previousResponseId,
        JsonNode conversation,
        JsonNode include,
        Boolean background,
        JsonNode prompt,
        Integer topLogprobs,
        String truncation) {

    /** {@code text}: the output's format. */
    public record Text(@Valid Format format) {}

    /** {@code text.format}: {@code text}, {@code json_object} or {@code json_schema} (name and schema inline). */
    public record Format(
            @NotBlank
            @Pattern(regexp = "text|json_object|json_schema", message = "must be text, json_object or json_schema")
            String type,

            @Size(max = 64) @Pattern(regexp = "[A-Za-z0-9_-]+", message = "must match [A-Za-z0-9_-]+")
            String name,

            String description,
            JsonNode schema,
            Boolean strict) {}
}
