package io.flatfare.support.api;

/**
 * A failure the caller can act on; the REST layer (and a service's gRPC layer) maps {@link Kind} to its status.
 * Services subclass it to add factories for their own domain.
 */
public class ApiException extends RuntimeException {

    public enum Kind {
        INVALID_ARGUMENT,
        NOT_FOUND,
        CONFLICT,
        /** A dependency (a broker, a database) did not answer in time: worth retrying later. */
        UNAVAILABLE
    }

    private final Kind kind;
    private final String param;
    private final String code;

    public ApiException(Kind kind, String message, String param, String code) {
        super(message, null, false, false);
        this.kind = kind;
        this.param = param;
        this.code = code;
    }

    public Kind kind() {
        return kind;
    }

    /** The request field at fault, in the API's spelling, or null. */
    public String param() {
        return param;
    }

    public String code() {
        return code;
    }
}
