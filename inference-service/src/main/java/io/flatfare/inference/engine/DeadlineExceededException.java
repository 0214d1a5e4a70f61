package io.flatfare.inference.engine;

/**
 * The request's {@link GenerationRequest#deadline() deadline} passed before or while it ran (maps to
 * DEADLINE_EXCEEDED). The engine stopped generating and freed the slot before throwing; text produced until
 * then has already reached the sink. {@link #partial()} says how far it got (tokens so far, for metering).
 */
public class DeadlineExceededException extends RuntimeException {

    private final GenerationResult partial;

    public DeadlineExceededException(String message, GenerationResult partial) {
        super(message, null, false, false);
        this.partial = partial;
    }

    /** Usage up to the moment generation stopped; {@code cancelled} is false. */
    public GenerationResult partial() {
        return partial;
    }
}
