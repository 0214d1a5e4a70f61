package io.flatfare.inference.engine.llamacpp;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.OptionalInt;

/**
 * Which of a model's llama.cpp slots a generation runs in, and which idle ones still hold a finished sequence.
 *
 * <p>llama.cpp keeps a finished request's sequence in the shared KV cache until its slot is used again, and every
 * step attends over all the cells in use, masked or not. Left to itself it takes its least recently used slot, so
 * every slot keeps a sequence, and a short prompt at one stream of four slots took 9.5–15.5 ms to its first token
 * after long requests instead of 5–6 (tiny benchmark model, 2 cores). Here a generation takes the slot freed last,
 * so light load uses as few slots as it has streams, and a slot left idle with a sequence in it is handed to
 * {@link LlamaCppEngine}'s sweep, which replaces that sequence with a one-token one.
 *
 * <p>The engine's permits guard this: it takes a permit before {@link #take} or {@link #claimIdle} and gives it back
 * after {@link #giveBack} or {@link #swept}, so a permit holder always finds a slot. Thread-safe.
 */
final class SlotIds {

    private final Deque<Integer> free = new ArrayDeque<>();
    private final long[] freedAt;
    private final boolean[] holdsSequence;

    SlotIds(int slots) {
        freedAt = new long[slots];
        holdsSequence = new boolean[slots];
        for (int id = 0; id < slots; id++) {
            free.addLast(id);
        }
    }

    /** The slot freed last. */
    synchronized int take() {
        Integer id = free.pollFirst();
        if (id == null) {
            throw new IllegalStateException("no free slot: taken without a permit");
        }
        return id;
    }

    /** A generation left slot {@code id} at {@code now} ({@link System#nanoTime}), its sequence still cached. */
    synchronized void giveBack(int id, long now) {
        freedAt[id] = now;
        holdsSequence[id] = true;
        free.addFirst(id);
    }

    /** A free slot that holds a sequence and was freed at least {@code idleNanos} before {@code now}, taken out. */
    synchronized OptionalInt claimIdle(long now, long idleNanos) {
        for (Integer id : free) {
            if (holdsSequence[id] && now - freedAt[id] >= idleNanos) {
                free.remove(id);
                return OptionalInt.of(id);
            }
        }
        return OptionalInt.empty();
    }

    /** Slot {@code id} was swept: it goes back below the slots in use lately, next to be taken after them. */
    synchronized void swept(int id) {
        holdsSequence[id] = false;
        free.addLast(id);
    }

    /** Free slots, the next to be taken first. */
    synchronized List<Integer> free() {
        return List.copyOf(free);
    }

    /** Free slots that still hold a finished sequence. */
    synchronized List<Integer> holdingSequences() {
        return free.stream().filter(id -> holdsSequence[id]).toList();
    }
}
