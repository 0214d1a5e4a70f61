package io.flatfare.inference.api;

import io.flatfare.contracts.inference.v1.ChoiceDelta;
import io.flatfare.contracts.inference.v1.ChoiceFinished;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.inference.engine.FinishReason;
import io.flatfare.inference.engine.GenerationSink;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.vertx.core.Context;
import java.util.Map;
import java.util.TreeMap;

/**
 * Streams engine output as gRPC messages without one message per token. A delta is handed to the call's
 * event loop at once; text that arrives while the event loop has not yet sent the previous delta joins it.
 * A slow model therefore still streams token by token with no added delay, while a fast one sends fewer,
 * larger messages: one gRPC message costs far more CPU than one token of a small model (measured by the
 * benchmark), and that CPU is taken from generation.
 */
final class CoalescingSink implements GenerationSink {

    private final MultiEmitter<? super GenerateResponse> emitter;
    private final Context eventLoop;
    /** Pending text per choice index; guarded by {@code this}, which also orders the emits. */
    private final Map<Integer, StringBuilder> pending = new TreeMap<>();

    private boolean flushScheduled;

    CoalescingSink(MultiEmitter<? super GenerateResponse> emitter, Context eventLoop) {
        this.emitter = emitter;
        this.eventLoop = eventLoop;
    }

    @Override
    public void onDelta(int index, String text) {
        boolean schedule;
        synchronized (this) {
            pending.computeIfAbsent(index, i -> new StringBuilder()).append(text);
            schedule = !flushScheduled;
            flushScheduled = true;
        }
        if (schedule) {
            if (eventLoop == null) {
                flush();
            } else {
                eventLoop.runOnContext(ignored -> flush());
            }
        }
    }

    @Override
    public void onChoiceFinished(int index, FinishReason reason) {
        synchronized (this) {
            drain();
            emitter.emit(GenerateResponse.newBuilder()
                    .setChoiceFinished(
                            ChoiceFinished.newBuilder().setIndex(index).setFinishReason(WireMapping.toWire(reason)))
                    .build());
        }
    }

    /** Sends whatever is pending; the engine's thread calls this before the final message. */
    synchronized void flush() {
        flushScheduled = false;
        drain();
    }

    private void drain() {
        for (var entry : pending.entrySet()) {
            if (!entry.getValue().isEmpty()) {
                emitter.emit(GenerateResponse.newBuilder()
                        .setDelta(ChoiceDelta.newBuilder()
                                .setIndex(entry.getKey())
                                .setText(entry.getValue().toString()))
                        .build());
                entry.getValue().setLength(0);
            }
        }
    }
}
