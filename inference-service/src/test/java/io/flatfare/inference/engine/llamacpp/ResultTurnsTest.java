package io.flatfare.inference.engine.llamacpp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ResultTurnsTest {

    private final ResultTurns turns = new ResultTurns();
    /** Threads inside a receive now, and the most there ever were at once. */
    private final AtomicInteger inside = new AtomicInteger();

    private final AtomicInteger mostInside = new AtomicInteger();
    private final List<CountDownLatch> held = new CopyOnWriteArrayList<>();
    /** Each call on its own thread (the common pool may have one thread on a small machine). */
    private final ExecutorService threads = Executors.newCachedThreadPool();

    @AfterEach
    void releaseAll() {
        held.forEach(CountDownLatch::countDown);
        threads.shutdown();
    }

    /** A receive that waits, as the native call does, until the returned latch is counted down. */
    private Supplier<String> receive(String result, CountDownLatch release) {
        held.add(release);
        return () -> {
            mostInside.accumulateAndGet(inside.incrementAndGet(), Math::max);
            try {
                assertThat(release.await(30, TimeUnit.SECONDS)).isTrue();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            } finally {
                inside.decrementAndGet();
            }
            return result;
        };
    }

    @Test
    void laterOutputsAreWaitedForOneThreadAtATimeInArrivalOrder() {
        // Patience for a minute: a stream's output every 20 s, as far as the turns know.
        for (int i = 0; i < 64; i++) {
            turns.record(TimeUnit.SECONDS.toNanos(20));
        }
        assertThat(turns.patienceNanos()).isEqualTo(ResultTurns.MAX_PATIENCE_NANOS);
        var a = new CountDownLatch(1);
        var b = new CountDownLatch(1);
        var c = new CountDownLatch(1);
        List<String> order = java.util.Collections.synchronizedList(new ArrayList<>());
        var first =
                CompletableFuture.supplyAsync(() -> order.add(turns.next(receive("a", a), System.nanoTime())), threads);
        await().until(() -> inside.get() == 1);
        var second =
                CompletableFuture.supplyAsync(() -> order.add(turns.next(receive("b", b), System.nanoTime())), threads);
        await().until(() -> turns.waiting() == 1);
        var third =
                CompletableFuture.supplyAsync(() -> order.add(turns.next(receive("c", c), System.nanoTime())), threads);
        await().until(() -> turns.waiting() == 2);

        a.countDown();
        await().until(() -> order.size() == 1 && inside.get() == 1); // b took the turn, c still waits for it
        assertThat(turns.waiting()).isEqualTo(1);
        b.countDown();
        await().until(() -> order.size() == 2 && inside.get() == 1); // c took the turn
        c.countDown();
        CompletableFuture.allOf(first, second, third).join();

        assertThat(order).containsExactly("a", "b", "c");
        assertThat(mostInside).hasValue(1);
    }

    @Test
    void aFirstOutputIsWaitedForWithoutATurn() {
        var holder = new CountDownLatch(1);
        CompletableFuture.runAsync(() -> turns.next(receive("held", holder), System.nanoTime()), threads);
        await().until(() -> inside.get() == 1);

        var first = new CountDownLatch(1);
        var result = CompletableFuture.supplyAsync(() -> turns.first(receive("first", first)), threads);
        await().until(() -> inside.get() == 2);
        first.countDown();

        assertThat(result.join()).isEqualTo("first");
        assertThat(turns.waiting()).isZero();
    }

    @Test
    void aTurnHeldLongerThanThePatienceIsNotWaitedFor() {
        long patience = turns.patienceNanos();
        var holder = new CountDownLatch(1);
        CompletableFuture.runAsync(() -> turns.next(receive("held", holder), System.nanoTime()), threads);
        await().until(() -> inside.get() == 1);

        long start = System.nanoTime();
        var late = new CountDownLatch(1);
        var result = CompletableFuture.supplyAsync(() -> turns.next(receive("late", late), System.nanoTime()), threads);
        await().atMost(Duration.ofSeconds(10)).until(() -> inside.get() == 2);
        assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(patience);
        late.countDown();

        assertThat(result.join()).isEqualTo("late");
    }

    @Test
    void patienceIsAFewOfTheStepsLastSeenWithinBounds() {
        assertThat(turns.patienceNanos())
                .isEqualTo(ResultTurns.PATIENCE_INTERVALS * ResultTurns.INITIAL_INTERVAL_NANOS);
        for (int i = 0; i < 200; i++) {
            turns.record(TimeUnit.MILLISECONDS.toNanos(5));
        }
        assertThat(turns.patienceNanos())
                .isBetween(TimeUnit.MICROSECONDS.toNanos(14_900), TimeUnit.MICROSECONDS.toNanos(15_100));
        for (int i = 0; i < 200; i++) {
            turns.record(TimeUnit.MICROSECONDS.toNanos(100));
        }
        assertThat(turns.patienceNanos()).isEqualTo(ResultTurns.MIN_PATIENCE_NANOS);
        for (int i = 0; i < 400; i++) {
            turns.record(TimeUnit.SECONDS.toNanos(2));
        }
        assertThat(turns.patienceNanos()).isEqualTo(ResultTurns.MAX_PATIENCE_NANOS);
    }
}
