package io.flatfare.inference.api;

import io.flatfare.contracts.inference.v1.ChoiceDelta;
import io.flatfare.contracts.inference.v1.ChoiceFinished;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.inference.engine.FinishReason;
import io.flatfare.inference.engine.GenerationSink;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.vertx.core.Context;
import io.vertx.core.impl.ContextInternal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Streams engine output as gRPC messages without one message per token. Each gRPC message costs far more CPU
 * than one token of a small model (measured by the benchmark), and on a shared CPU that is taken from
 * generation. So:
 *
 * <ul>
 *   <li>the first delta is handed to the call's event loop at once (time to first token is never held back);
 *   <li>later text is sent at most once per {@code interval} per stream: text that arrives sooner joins what is
 *       pending and goes out when the interval has passed. A model slower than one token per interval therefore
 *       still streams token by token with no added delay; a faster one sends fewer, larger messages, each at
 *       most one interval late;
 *   <li>everything is written on the event loop (the only thread that sends, so the order holds), and the end
 *       of a stream (last text, finish reasons, the final message, completion or failure) goes out in one
 *       event-loop task instead of one thread hand-off per message.
 * </ul>
 */
final class CoalescingSink implements GenerationSink {

    private final MultiEmitter<? super GenerateResponse> emitter;
    private final ContextInternal eventLoop;
    private final long intervalNanos;
    private final long intervalMillis;
    private final String fingerprint;

    // Guarded by this.
    private final Map<Integer, StringBuilder> pending = new TreeMap<>();
    private final List<GenerateResponse> outbox = new ArrayList<>();
    private boolean sendScheduled;
    private long lastSent;
    private Consumer<MultiEmitter<? super GenerateResponse>> terminal;
    private boolean ended;
    private boolean fingerprintSent;

    /**
     * @param eventLoop the call's Vert.x context, or null when the call runs outside Vert.x (then messages are
     *     sent on the engine's thread, at once)
     * @param fingerprint set on the stream's first message
     */
    CoalescingSink(
            MultiEmitter<? super GenerateResponse> emitter, Context eventLoop, Duration interval, String fingerprint) {
        this.emitter = emitter;
        this.fingerprint = fingerprint == null ? "" : fingerprint;
        this.eventLoop = (ContextInternal) eventLoop;
        this.intervalNanos = interval.toNanos();
        this.intervalMillis = Math.max(1, interval.toMillis());
    }

    @Override
    public void onDelta(int index, String text) {
        long delay;
        synchronized (this) {
            pending.computeIfAbsent(index, i -> new StringBuilder()).append(text);
            if (sendScheduled || terminal != null) {
                return;
            }
            sendScheduled = true;
            delay = lastSent == 0 ? 0 : lastSent + intervalNanos - System.nanoTime();
        }
        schedule(delay);
    }

    @Override
    public void onChoiceFinished(int index, FinishReason reason) {
        long delay;
        synchronized (this) {
            drainPending();
            outbox.add(GenerateResponse.newBuilder()
                    .setChoiceFinished(
                            ChoiceFinished.newBuilder().setIndex(index).setFinishReason(WireMapping.toWire(reason)))
                    .build());
            if (sendScheduled || terminal != null) {
                return;
            }
            sendScheduled = true;
            delay = lastSent == 0 ? 0 : lastSent + intervalNanos - System.nanoTime();
        }
        schedule(delay);
    }

    /**
     * Ends the stream: whatever is pending goes out, then {@code last} (the final message and completion, or a
     * failure) runs on the event loop, in the same task, without waiting for the interval.
     */
    void end(Consumer<MultiEmitter<? super GenerateResponse>> last) {
        synchronized (this) {
            if (terminal != null) {
                return;
            }
            terminal = last;
        }
        if (eventLoop == null) {
            send();
        } else {
            eventLoop.runOnContext(ignored -> send());
        }
    }

    private void schedule(long delayNanos) {
        if (eventLoop == null) {
            send();
        } else if (delayNanos <= 0) {
            eventLoop.runOnContext(ignored -> send());
        } else {
            // Millisecond timers: the interval is a bound on the message rate, not a precise cadence.
            eventLoop.setTimer(Math.min(intervalMillis, Math.max(1, delayNanos / 1_000_000)), ignored -> send());
        }
    }

    /** Sends what has piled up, in order; the event loop is the only sender (or the engine's thread without one). */
    private void send() {
        List<GenerateResponse> batch;
        Consumer<MultiEmitter<? super GenerateResponse>> last;
        synchronized (this) {
            sendScheduled = false;
            drainPending();
            if (outbox.isEmpty() && (terminal == null || ended)) {
                return;
            }
            batch = new ArrayList<>(outbox);
            outbox.clear();
            if (!batch.isEmpty() && !fingerprintSent) {
                fingerprintSent = true;
                batch.set(
                        0,
                        batch.get(0).toBuilder()
                                .setSystemFingerprint(fingerprint)
                                .build());
            }
            last = ended ? null : terminal;
            ended = terminal != null;
            if (!batch.isEmpty()) {
                lastSent = System.nanoTime();
            }
        }
        for (GenerateResponse message : batch) {
            emitter.emit(message);
        }
        if (last != null) {
            last.accept(emitter);
        }
    }

    private void drainPending() {
        for (var entry : pending.entrySet()) {
            if (!entry.getValue().isEmpty()) {
                outbox.add(GenerateResponse.newBuilder()
                        .setDelta(ChoiceDelta.newBuilder()
                                .setIndex(entry.getKey())
                                .setText(entry.getValue().toString()))
                        .build());
                entry.getValue().setLength(0);
            }
        }
    }
}
