package io.flatfare.gateway.account;

import io.flatfare.support.api.ApiException;

/** A failure an admin API caller can act on; service-support's mapper turns it into the error envelope. */
public class AccountException extends ApiException {

    public AccountException(Kind kind, String message, String param, String code) {
        super(kind, message, param, code);
    }

    public static AccountException invalid(String param, String message) {
        return new AccountException(Kind.INVALID_ARGUMENT, message, param, "invalid_value");
    }

    public static AccountException notFound(String param, String code, String message) {
        return new AccountException(Kind.NOT_FOUND, message, param, code);
    }

    public static AccountException conflict(String param, String code, String message) {
        return new AccountException(Kind.CONFLICT, message, param, code);
    }
}
