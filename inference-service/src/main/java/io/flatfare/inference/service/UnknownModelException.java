package io.flatfare.inference.service;

/** This instance does not serve the model. */
public class UnknownModelException extends RuntimeException {

    public UnknownModelException(String model) {
        super("The model '" + model + "' is not served by this instance.", null, false, false);
    }
}
