package io.flatfare.gateway.service;

import io.smallrye.mutiny.infrastructure.Infrastructure;

/**
 * Thrown by a lookup that would have to wait for I/O (a database read on a key-cache miss, a registry call for a
 * stale view or an unknown model name), or by a step too long for one (reading a large body), when it is called on an
 * event loop. The {@code /v1} endpoints run their
 * checks on the event loop and, on this signal, run them again on a worker thread; answers from the caches, the
 * usual case, never leave the event loop.
 */
public final class WouldBlock extends RuntimeException {

    private static final WouldBlock INSTANCE = new WouldBlock();

    private WouldBlock() {
        super("This lookup waits for I/O; run it on a worker thread", null, false, false);
    }

    /** Throws when the current thread must not block (a Vert.x event loop). */
    public static void unlessBlockingAllowed() {
        if (!Infrastructure.canCallerThreadBeBlocked()) {
            throw INSTANCE;
        }
    }
}
