package io.flatfare.contracts.events;

/**
 * The rule every id in an event follows (event, account, API key, model, instance and plan ids): 1 to 255 code
 * points, no whitespace, no control character (U+0000 to U+001F, U+007F to U+009F), no unpaired surrogate. A
 * service that stores an id which later goes into an event (metering's plan ids) checks it with {@link #valid}, so
 * that it cannot hold one the event records refuse.
 */
public final class EventIds {

    public static final int MAX_LENGTH = Checks.MAX_ID_LENGTH;

    private EventIds() {}

    public static boolean valid(String id) {
        return id != null && Checks.isId(id);
    }
}
