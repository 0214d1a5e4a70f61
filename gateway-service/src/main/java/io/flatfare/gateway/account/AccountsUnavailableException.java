package io.flatfare.gateway.account;

/**
 * A key could not be looked up because the accounts database cannot be reached, and no earlier answer for it may
 * stand in: a 503 the client may retry, not a bug. The message names the SQL state only, never the key.
 */
public final class AccountsUnavailableException extends RuntimeException {

    public AccountsUnavailableException(String message) {
        super(message, null, false, false);
    }
}
