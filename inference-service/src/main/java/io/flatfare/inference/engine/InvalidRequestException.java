package io.flatfare.inference.engine;

/**
 * A request this model cannot honour as asked (maps to INVALID_ARGUMENT). {@code param} names the field in
 * the OpenAI API's spelling, e.g. {@code max_tokens}, {@code response_format}; {@code code} is a machine
 * reason such as {@code context_length_exceeded}, or null.
 */
public class InvalidRequestException extends RuntimeException {

    private final String param;
    private final String code;

    public InvalidRequestException(String param, String message) {
        this(param, message, null);
    }

    public InvalidRequestException(String param, String message, String code) {
        super(message, null, false, false);
        this.param = param;
        this.code = code;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }
}
