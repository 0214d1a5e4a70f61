package io.flatfare.gateway.usage;

/**
 * A request is refused because its usage event could not be kept (the journal cannot be written, or is full while
 * Kafka is away): 503, before any work, and no event, since the refusal itself could not be recorded either.
 */
public final class UsageUnavailableException extends RuntimeException {

    public UsageUnavailableException() {
        super("usage events cannot be kept right now", null, false, false);
    }
}
