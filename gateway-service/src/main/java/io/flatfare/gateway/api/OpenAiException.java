package io.flatfare.gateway.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flatfare.support.api.ApiError;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A failure on {@code /v1/*}, already in OpenAI's terms: status, error type, code, the parameter at fault and any
 * headers the SDKs act on ({@code retry-after}, {@code x-should-retry}). {@link V1ErrorMapper} writes it as the
 * OpenAI error envelope; after a stream began it is sent as an SSE error event instead.
 */
public final class OpenAiException extends RuntimeException {

    private final int status;
    private final String type;
    private final String param;
    private final String code;
    private final Map<String, String> headers = new LinkedHashMap<>();

    public OpenAiException(int status, String type, String message, String param, String code) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    public static OpenAiException invalid(String param, String message) {
        return new OpenAiException(400, "invalid_request_error", message, param, "invalid_value");
    }

    public static OpenAiException invalid(String param, String message, String code) {
        return new OpenAiException(400, "invalid_request_error", message, param, code);
    }

    /** A required field absent (or null): OpenAI's words and code for it. */
    public static OpenAiException missing(String param) {
        return invalid(param, "Missing required parameter: '" + param + "'.", "missing_required_parameter");
    }

    /** An array that must hold at least one item, empty: OpenAI's words and code for it. */
    public static OpenAiException emptyArray(String param) {
        return invalid(
                param,
                "Invalid '" + param + "': empty array. Expected an array with minimum length 1, but got an empty"
                        + " array instead.",
                "empty_array");
    }

    /** A known OpenAI feature this release does not implement: refused, never silently ignored. */
    public static OpenAiException unsupported(String param, String message) {
        return new OpenAiException(400, "invalid_request_error", message, param, "unsupported_parameter");
    }

    /** One body for missing, malformed, unknown, revoked and expired keys, so a probe learns nothing. */
    public static OpenAiException unauthorized() {
        return new OpenAiException(
                401,
                "invalid_request_error",
                "Incorrect or missing API key. Send a valid key as 'Authorization: Bearer <key>'.",
                null,
                "invalid_api_key");
    }

    public static OpenAiException modelNotFound(String model) {
        return new OpenAiException(
                404,
                "invalid_request_error",
                "The model '" + model + "' does not exist or you do not have access to it.",
                "model",
                "model_not_found");
    }

    public static OpenAiException modelNotAllowed(String model) {
        return new OpenAiException(
                403,
                "invalid_request_error",
                "Your plan does not allow the model '" + model + "'.",
                "model",
                "model_not_allowed");
    }

    public static OpenAiException bodyTooLarge(long limit) {
        return new OpenAiException(
                413,
                "invalid_request_error",
                "The request body is larger than the limit of " + limit + " bytes.",
                null,
                "request_too_large");
    }

    public static OpenAiException bodyTimedOut(Duration timeout) {
        return new OpenAiException(
                408,
                "invalid_request_error",
                "The request body did not arrive within " + timeout.toSeconds() + " seconds of its headers.",
                null,
                "request_timeout");
    }

    public static OpenAiException internal() {
        return new OpenAiException(
                500, "server_error", "The server had an error while processing your request.", null, null);
    }

    /** Adds the standard retry hints: {@code retry-after} (seconds, rounded up) and {@code retry-after-ms}. */
    public OpenAiException retryAfter(Duration after) {
        long millis = Math.max(0, after.toMillis());
        headers.put("retry-after", Long.toString(Math.max(1, (millis + 999) / 1000)));
        headers.put("retry-after-ms", Long.toString(millis));
        return this;
    }

    public OpenAiException header(String name, String value) {
        headers.put(name, value);
        return this;
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }

    public Map<String, String> headers() {
        return headers;
    }

    /** {@code {"message","type","param","code"}}: what the envelope holds under {@code error}. */
    public ObjectNode errorObject(ObjectMapper json) {
        return json.valueToTree(new ApiError.Body(getMessage(), type, param, code));
    }

    /** {@code {"error":{…}}}, as {@link ApiError} writes it. */
    public ObjectNode envelope(ObjectMapper json) {
        return json.valueToTree(new ApiError(new ApiError.Body(getMessage(), type, param, code)));
    }
}
