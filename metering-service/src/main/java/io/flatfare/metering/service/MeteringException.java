package io.flatfare.metering.service;

import io.flatfare.support.api.ApiException;

/** A failure the API caller can act on; the REST layer maps {@link Kind} to a status and the error envelope. */
public class MeteringException extends ApiException {

    public MeteringException(Kind kind, String message, String param, String code) {
        super(kind, message, param, code);
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

    public static MeteringException unavailable(String code, String message) {
        return new MeteringException(Kind.UNAVAILABLE, message, null, code);
    }
}
