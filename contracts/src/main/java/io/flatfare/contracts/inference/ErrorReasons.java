package io.flatfare.contracts.inference;

/**
 * The {@code ErrorInfo} reasons an inference instance gives with {@code INVALID_ARGUMENT} (domain {@link #DOMAIN},
 * metadata {@code param}): OpenAI error codes, which the gateway answers with as they are.
 */
public final class ErrorReasons {

    /** The {@code ErrorInfo} domain of inference's errors. */
    public static final String DOMAIN = "inference.flatfare.io";

    /** The prompt and its output tokens do not fit the context window. */
    public static final String CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded";

    /** A feature the model cannot do at all (logprobs, suffix), as opposed to a value out of range. */
    public static final String UNSUPPORTED_PARAMETER = "unsupported_parameter";

    /** Any other value the model cannot take. */
    public static final String INVALID_VALUE = "invalid_value";

    private ErrorReasons() {}
}
