package io.flatfare.metering.service;

/** A failure the API caller can act on; the REST layer maps {@link Kind} to a status and the error envelope. */
public class MeteringException extends RuntimeException {

    public enum Kind {
        INVALID_ARGUMENT,
        NOT_FOUND,
        CONFLICT
    }

    private final Kind kind;
    private final String param;
    private final String code;

    public MeteringException(Kind kind, String message, String param, String code) {
        super(message, null, false, false);
        this.kind = kind;
        this.param = param;
        this.code = code;
    }

    public static MeteringException invalid(String param, String message) {
        return new MeteringException(Kind.INVALID_ARGUMENT, message, param, "invalid_value");
    }

    public static MeteringException notFound(String param, String code, String message) {
        return new MeteringException(Kind.NOT_FOUND, message, param, code);
    }

    public static MeteringException conflict(String param, String code, String message) {
        return new MeteringException(Kind.CONFLICT, message, param, code);
    }

    public Kind kind() {
        return kind;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }
}
