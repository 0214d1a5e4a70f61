package io.flatfare.inference.engine;

/** Polled by the engine between tokens; true means stop now and free the slot. */
@FunctionalInterface
public interface CancellationSignal {

    CancellationSignal NEVER = () -> false;

    boolean isCancelled();
}
