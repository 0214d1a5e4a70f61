package io.flatfare.inference.service;

import io.flatfare.inference.engine.GenerationResult;
import io.flatfare.inference.engine.InferenceEngine;
import io.flatfare.inference.engine.ModelSettings;
import io.flatfare.inference.engine.TokenizerCost;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One model kept in memory for the life of the process, with its admission control: a pool of platform
 * threads, one per slot (each native stream pins an OS thread, so virtual threads would not help), and a
 * bounded wait queue. Work beyond slots plus queue is refused at once.
 */
public final class ResidentModel {

    public enum State {
        LOADING,
        READY,
        DRAINING
    }

    private final ModelSettings settings;
    private final int queueCapacity;
    private final ThreadPoolExecutor executor;
    private final AtomicInteger busy = new AtomicInteger();
    private volatile InferenceEngine engine;
    private volatile State state = State.LOADING;

    private final Timer timeToFirstToken;
    private final Timer queueTime;
    private final Counter generatedTokens;
    private final DistributionSummary tokensPerSecond;
    private final Counter rejections;

    ResidentModel(ModelSettings settings, int queueCapacity, MeterRegistry meters) {
        this.settings = settings;
        this.queueCapacity = queueCapacity;
        BlockingQueue<Runnable> queue =
                queueCapacity == 0 ? new SynchronousQueue<>() : new ArrayBlockingQueue<>(queueCapacity);
        this.executor = new ThreadPoolExecutor(
                settings.slots(), settings.slots(), 0, TimeUnit.SECONDS, queue, slotThreads(settings.id()));

        String id = settings.id();
        Gauge.builder("flatfare.inference.slots.busy", busy, AtomicInteger::get)
                .tag("model", id)
                .register(meters);
        Gauge.builder("flatfare.inference.slots.total", settings, ModelSettings::slots)
                .tag("model", id)
                .register(meters);
        Gauge.builder(
                        "flatfare.inference.queue.depth",
                        executor,
                        e -> e.getQueue().size())
                .tag("model", id)
                .register(meters);
        timeToFirstToken = Timer.builder("flatfare.inference.time.to.first.token")
                .tag("model", id)
                .publishPercentileHistogram()
                .register(meters);
        queueTime =
                Timer.builder("flatfare.inference.queue.time").tag("model", id).register(meters);
        generatedTokens = Counter.builder("flatfare.inference.tokens.generated")
                .tag("model", id)
                .register(meters);
        tokensPerSecond = DistributionSummary.builder("flatfare.inference.tokens.per.second")
                .tag("model", id)
                .register(meters);
        rejections = Counter.builder("flatfare.inference.rejections")
                .tag("model", id)
                .tag("reason", "capacity")
                .register(meters);
    }

    public String id() {
        return settings.id();
    }

    /** As configured; the context actually served is {@link #contextLength()}. */
    public ModelSettings settings() {
        return settings;
    }

    /**
     * The context each request is served with: the engine's once loaded, which is lower than the configured one
     * when that is above what the model was trained for.
     */
    public int contextLength() {
        InferenceEngine loaded = engine;
        return loaded == null ? settings.contextLength() : loaded.info().contextLength();
    }

    public InferenceEngine engine() {
        return engine;
    }

    /** What tokenizing costs this model, once its engine is loaded; empty while it loads. */
    public Optional<TokenizerCost> tokenizerCost() {
        InferenceEngine loaded = engine;
        return loaded == null ? Optional.empty() : Optional.of(loaded.tokenizerCost());
    }

    public State state() {
        return state;
    }

    public int busySlots() {
        return busy.get();
    }

    public int queueDepth() {
        return executor.getQueue().size();
    }

    public int queueCapacity() {
        return queueCapacity;
    }

    /** Records a request's wait for a slot. */
    public void recordQueued(long nanos) {
        queueTime.record(nanos, TimeUnit.NANOSECONDS);
    }

    /** Records a finished generation: tokens, time to first token, and its generation speed. */
    public void recordGenerated(GenerationResult result, long elapsedNanos) {
        generatedTokens.increment(result.completionTokens());
        if (result.timeToFirstTokenNanos() > 0) {
            timeToFirstToken.record(result.timeToFirstTokenNanos(), TimeUnit.NANOSECONDS);
        }
        if (elapsedNanos > 0 && result.completionTokens() > 0) {
            tokensPerSecond.record(result.completionTokens() * 1e9 / elapsedNanos);
        }
    }

    void loaded(InferenceEngine engine) {
        this.engine = engine;
    }

    void ready() {
        state = State.READY;
    }

    void draining() {
        state = State.DRAINING;
    }

    boolean idle() {
        return busy.get() == 0 && executor.getQueue().isEmpty();
    }

    /**
     * Runs {@code work} in a slot, waiting in the queue if all slots are busy.
     *
     * @throws SlotsExhaustedException when the slots and the queue are full
     */
    public <T> Future<T> submit(Callable<T> work) {
        try {
            return executor.submit(() -> {
                busy.incrementAndGet();
                try {
                    return work.call();
                } finally {
                    busy.decrementAndGet();
                }
            });
        } catch (RejectedExecutionException e) {
            rejections.increment();
            throw new SlotsExhaustedException(settings.id(), settings.slots(), queueCapacity);
        }
    }

    /** Frees the queue place of work whose caller went away before it started. */
    public void withdraw(Future<?> queued) {
        if (queued.cancel(false)) {
            executor.remove((Runnable) queued);
        }
    }

    void shutdownExecutor() {
        executor.shutdown();
    }

    private static ThreadFactory slotThreads(String model) {
        var counter = new AtomicInteger();
        return runnable -> {
            Thread thread = Thread.ofPlatform()
                    .name("llama-" + model + "-slot-" + counter.incrementAndGet())
                    .daemon(true)
                    .unstarted(runnable);
            return thread;
        };
    }
}
