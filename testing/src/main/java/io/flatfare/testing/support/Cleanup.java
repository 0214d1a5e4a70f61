package io.flatfare.testing.support;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs a server's stop action exactly once: from {@code close()}, or from a JVM shutdown hook when the owner never
 * closed the server (a crashed or interrupted test run), so no process or directory outlives the JVM.
 */
public final class Cleanup {

    /** Stops a server; may throw anything, which {@link #run()} reports. */
    @FunctionalInterface
    public interface Action {
        void run() throws Exception;
    }

    private final String name;
    private final Action action;
    private final Thread hook;
    private final AtomicBoolean done = new AtomicBoolean();

    private Cleanup(String name, Action action, boolean withHook) {
        this.name = name;
        this.action = action;
        this.hook = withHook ? new Thread(this::run, "flatfare-cleanup-" + name) : null;
    }

    /** A cleanup that also runs when the JVM exits first. */
    public static Cleanup register(String name, Action action) {
        Cleanup cleanup = new Cleanup(name, action, true);
        Runtime.getRuntime().addShutdownHook(cleanup.hook);
        return cleanup;
    }

    /** For servers this code does not own (an existing one named by an environment variable). */
    public static Cleanup nothing(String name) {
        return new Cleanup(name, () -> {}, false);
    }

    public void run() {
        if (!done.compareAndSet(false, true)) {
            return;
        }
        if (hook != null && Thread.currentThread() != hook) {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException jvmShuttingDown) {
                // The hook is running or about to; the done flag keeps it from stopping the server twice.
            }
        }
        try {
            action.run();
        } catch (RuntimeException e) {
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while stopping " + name, e);
        } catch (Exception e) {
            throw new IllegalStateException("Could not stop " + name, e);
        }
    }
}
