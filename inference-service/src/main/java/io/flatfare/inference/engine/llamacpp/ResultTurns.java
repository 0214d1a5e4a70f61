package io.flatfare.inference.engine.llamacpp;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * Lets one thread at a time wait in a model's native result queue, so that waiting does not spin.
 *
 * <p>The binding's {@code receiveCompletion} waits on one queue shared by all of a model's streams, and its wait
 * only checks that the queue is not empty: a thread whose own result is not there while another stream's is loops
 * on the queue's mutex without sleeping until that result's owner takes it. With every stream's thread in that wait,
 * each result wakes them all, and on a machine with few cores the spinning threads hold the CPU the owner needs to
 * take its result and llama.cpp needs to compute the next one. Measured with {@code GrpcVsDirectBenchmark} (2 cores,
 * in-process, four streams): the receiving threads used as much CPU as llama.cpp's own thread, and four streams
 * generated fewer tokens per second than two.
 *
 * <p>llama.cpp computes one step for all streams at once, then hands out their results one after the other, so the
 * wait is taken in turns, first come first served: a thread that took its result queues behind those that have not
 * taken theirs yet, which are then in the queue already; the last of them waits, alone and asleep, for the next step.
 * Two kinds of wait take no turn, because their result may come steps after the others': a stream's first output
 * (it waits for the prompt to be computed, and holding the turn would hold every other stream back while the queue
 * fills), and any wait once the turn has been held for longer than a few steps ({@link #patienceNanos}: llama.cpp
 * keeps back output that ends inside a UTF-8 character, so a stream can miss a step or three); such a wait is the
 * binding's own, spinning as before, and never longer.
 */
final class ResultTurns {

    /** Shortest and longest wait for the turn. */
    static final long MIN_PATIENCE_NANOS = TimeUnit.MILLISECONDS.toNanos(2);

    static final long MAX_PATIENCE_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** The time between two outputs of a stream assumed before any was seen. */
    static final long INITIAL_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

    /** How many of those intervals a thread waits for the turn. */
    static final int PATIENCE_INTERVALS = 3;

    private final ReentrantLock turn = new ReentrantLock(true);

    /** Moving average of the time between two outputs of one stream: about one step of the model. */
    private volatile long intervalNanos = INITIAL_INTERVAL_NANOS;

    /** A stream's first output: waited for without a turn. */
    <T> T first(Supplier<T> receive) {
        return receive.get();
    }

    /** A later output of a stream whose previous output arrived at {@code previousNanos} ({@link System#nanoTime}). */
    <T> T next(Supplier<T> receive, long previousNanos) {
        boolean mine;
        try {
            mine = turn.tryLock(patienceNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // the caller sees it after this output and cancels
            mine = false;
        }
        try {
            T output = receive.get();
            record(System.nanoTime() - previousNanos);
            return output;
        } finally {
            if (mine) {
                turn.unlock();
            }
        }
    }

    /** The longest wait for the turn: a few steps of the model as last seen. */
    long patienceNanos() {
        return Math.clamp(PATIENCE_INTERVALS * intervalNanos, MIN_PATIENCE_NANOS, MAX_PATIENCE_NANOS);
    }

    /** Adds one interval between two outputs of a stream to the average (concurrent updates may lose one: fine). */
    void record(long interval) {
        long current = intervalNanos;
        intervalNanos = current + (Math.max(0, interval) - current) / 8;
    }

    /** Threads waiting for the turn now. */
    int waiting() {
        return turn.getQueueLength();
    }
}
