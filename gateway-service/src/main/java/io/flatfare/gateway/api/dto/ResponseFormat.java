package io.flatfare.gateway.api.dto;

import com.fasterxml.jackson.databind.JsonNode;
import jakarta.validation.Valid;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Size;

/** {@code response_format}: {@code text}, {@code json_object} or {@code json_schema}. */
public record ResponseFormat(
        @NotBlank
        @Pattern(regexp = "text|json_object|json_schema", message = "must be text, json_object or json_schema")
        String type,

        @Valid JsonSchema jsonSchema) {

    public record JsonSchema(
            @NotBlank @Size(max = 64) @Pattern(regexp = "[A-Za-z0-9_-]+", message = "must match [A-Za-z0-9_-]+")
            String name,

            String description,
            @NotNull JsonNode schema,
            Boolean strict) {}
}
