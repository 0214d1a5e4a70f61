package io.flatfare.inference.service;

/** The model is known but not serving now (still loading, or this instance is draining). */
public class ModelUnavailableException extends RuntimeException {

    public ModelUnavailableException(String message) {
        super(message, null, false, false);
    }
}
