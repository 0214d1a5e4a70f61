package io.flatfare.inference.engine;

/** The engine failed (native error, model unusable): a platform failure, never the caller's fault. */
public class EngineException extends RuntimeException {

    public EngineException(String message, Throwable cause) {
        super(message, cause);
    }
}
