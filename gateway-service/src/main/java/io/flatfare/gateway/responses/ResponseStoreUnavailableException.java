package io.flatfare.gateway.responses;

/**
 * The database of stored responses could not be reached or failed: a 503 the client may retry, not a bug. The
 * message names the response and the SQL state only, never stored text.
 */
public class ResponseStoreUnavailableException extends RuntimeException {

    public ResponseStoreUnavailableException(String message) {
        super(message);
    }
}
