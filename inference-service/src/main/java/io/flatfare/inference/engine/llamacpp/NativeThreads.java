package io.flatfare.inference.engine.llamacpp;

import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Threads with a deep stack for native calls that recurse per input character.
 *
 * <p>llama.cpp's BPE pre-tokenizers that have no hand-written splitter (Qwen2's, among others) split text with
 * {@code std::regex}, whose matcher recurses once per character of a run of letters, spaces or punctuation:
 * about 300 bytes of stack per character. On a thread with a 1 MiB stack a run of about 3,500 letters overflows
 * the stack and the JVM dies with SIGSEGV (no hs_err: there is no stack left to write it). The schema
 * converter's regexes recurse the same way on long property names. So every native call that handles caller text
 * longer than {@link #DIRECT_LIMIT} characters runs here, on a thread whose stack is {@link #STACK_BYTES} (address
 * space, committed only as used), and the engine refuses texts longer than {@link #MAX_TEXT_CHARS} characters
 * (about a third of what such a stack holds).
 */
final class NativeThreads {

    /** 1 GiB: holds a run of about 3 million characters. */
    static final long STACK_BYTES = 1L << 30;
    /** Texts up to this length are safe on any thread (about 80 KB of stack). */
    static final int DIRECT_LIMIT = 256;
    /** The longest text the engine tokenizes. */
    static final int MAX_TEXT_CHARS = 1_000_000;

    private static final AtomicInteger COUNT = new AtomicInteger();
    private static final ExecutorService POOL =
            new ThreadPoolExecutor(0, Integer.MAX_VALUE, 30, TimeUnit.SECONDS, new SynchronousQueue<>(), task -> {
                Thread thread = new Thread(null, task, "llama-native-" + COUNT.incrementAndGet(), STACK_BYTES);
                thread.setDaemon(true);
                return thread;
            });

    private NativeThreads() {}

    /**
     * Runs {@code task} on a deep-stack thread and waits for it (a native call cannot be interrupted, so an
     * interrupt is remembered and restored, not acted on).
     */
    static <T> T call(Callable<T> task) {
        Future<T> future = POOL.submit(task);
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return future.get();
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    if (cause instanceof RuntimeException runtime) {
                        throw runtime;
                    }
                    if (cause instanceof Error error) {
                        throw error;
                    }
                    throw new IllegalStateException(cause);
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
