package io.flatfare.gateway.service;

/** The client disconnected; ends the pipeline of its request without an answer. */
public final class ClientGoneException extends RuntimeException {

    public ClientGoneException() {
        super("The client disconnected.", null, false, false);
    }
}
