package io.flatfare.registry.service;

import io.flatfare.support.api.ApiException;

/** A failure the caller can act on; the REST and gRPC layers each map {@link Kind} to their status. */
public class RegistryException extends ApiException {

    public RegistryException(Kind kind, String message, String param, String code) {
        super(kind, message, param, code);
    }

    public static RegistryException invalid(String param, String message) {
        return new RegistryException(Kind.INVALID_ARGUMENT, message, param, "invalid_value");
    }

    public static RegistryException modelNotFound(String name) {
        return new RegistryException(
                Kind.NOT_FOUND, "The model '" + shown(name) + "' does not exist.", "model", "model_not_found");
    }

    public static RegistryException instanceNotFound(String id) {
        return new RegistryException(
                Kind.NOT_FOUND,
                "The inference instance '" + shown(id) + "' is not registered (or its registration expired).",
                "instance_id",
                "instance_not_found");
    }

    /** Longest caller-given name repeated in a message: a gRPC status travels in a header (8 KiB by default). */
    static final int SHOWN_LENGTH = 128;

    /** {@code name} as a message repeats it: at most {@link #SHOWN_LENGTH} characters. */
    static String shown(String name) {
        return name.length() <= SHOWN_LENGTH ? name : name.substring(0, SHOWN_LENGTH) + "...";
    }

    public static RegistryException conflict(String param, String code, String message) {
        return new RegistryException(Kind.CONFLICT, message, param, code);
    }
}
