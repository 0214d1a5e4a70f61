package io.flatfare.gateway.routing;

import java.time.Duration;
import java.util.Optional;

/** A call to inference failed; {@link Kind} decides the HTTP status the client sees. */
public final class UpstreamException extends RuntimeException {

    public enum Kind {
        /** The request cannot be served as asked (INVALID_ARGUMENT): 400, with the engine's message. */
        INVALID_REQUEST,
        /** The prompt and max tokens do not fit the context: 400 {@code context_length_exceeded}. */
        CONTEXT_LENGTH_EXCEEDED,
        /** A feature the model cannot do at all (logprobs, suffix): 400 {@code unsupported_parameter}. */
        UNSUPPORTED,
        /** Every instance tried is full (RESOURCE_EXHAUSTED): 429 with Retry-After. */
        OVERLOADED,
        /** No READY instance, or none reachable: 503 with Retry-After. */
        NO_INSTANCE,
        /** The deadline passed: 504. */
        DEADLINE_EXCEEDED,
        /** The call failed after output began, or inference reported an internal error: 502. */
        FAILED
    }

    private final Kind kind;
    private final Duration retryAfter;
    private final String param;

    public UpstreamException(Kind kind, String message, Duration retryAfter, String param, Throwable cause) {
        super(message, cause, false, false);
        this.kind = kind;
        this.retryAfter = retryAfter;
        this.param = param;
    }

    public Kind kind() {
        return kind;
    }

    public Optional<Duration> retryAfter() {
        return Optional.ofNullable(retryAfter);
    }

    /** The request field at fault (OpenAI spelling) for the 400 kinds, when known. */
    public String param() {
        return param;
    }
}
