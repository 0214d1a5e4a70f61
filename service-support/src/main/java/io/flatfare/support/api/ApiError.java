package io.flatfare.support.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

/**
 * The error envelope of every Flatfare HTTP API, the same shape as OpenAI's:
 * {@code {"error":{"message","type","param","code"}}} with all four keys present.
 */
public record ApiError(Body error) {

    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record Body(String message, String type, String param, String code) {}

    public static Response response(int status, String type, String message, String param, String code) {
        return Response.status(status)
                .type(MediaType.APPLICATION_JSON_TYPE)
                .entity(new ApiError(new Body(message, type, param, code)))
                .build();
    }
}
