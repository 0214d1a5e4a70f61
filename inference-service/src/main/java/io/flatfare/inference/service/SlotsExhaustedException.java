package io.flatfare.inference.service;

/** A model's slots and wait queue are full: the caller should retry later or elsewhere. */
public class SlotsExhaustedException extends RuntimeException {

    public SlotsExhaustedException(String model, int slots, int queue) {
        super(
                "The model '" + model + "' is at capacity (" + slots + " slots busy, " + queue
                        + " requests waiting); retry shortly.",
                null,
                false,
                false);
    }
}
