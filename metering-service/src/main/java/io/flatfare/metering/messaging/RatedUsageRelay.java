package io.flatfare.metering.messaging;

import io.agroal.api.AgroalDataSource;
import io.flatfare.contracts.events.Topics;
import io.flatfare.metering.config.MeteringConfig;
import io.quarkus.logging.Log;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.common.annotation.Identifier;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Publishes the transactional outbox to {@code flatfare.rated-usage.v1}, exactly once for {@code read_committed}
 * consumers (see {@link OutboxPublisher}). One replica at a time relays; the others' sweeps find the lock taken
 * and return, and take over within a sweep once the leader's database session ends.
 */
@ApplicationScoped
public class RatedUsageRelay {

    private final AgroalDataSource dataSource;
    private final Map<String, Object> kafkaConfig;
    private final MeteringConfig config;
    private final AtomicBoolean queued = new AtomicBoolean();
    private final ScheduledExecutorService worker = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("rated-usage-relay").daemon().factory());

    /** The current leadership term; touched only on the worker thread. */
    private OutboxPublisher publisher;

    RatedUsageRelay(
            AgroalDataSource dataSource,
            @Identifier("default-kafka-broker") Map<String, Object> kafkaConfig,
            MeteringConfig config) {
        this.dataSource = dataSource;
        this.kafkaConfig = kafkaConfig;
        this.config = config;
    }

    /** Asks for a drain soon; calls while one is queued fold into it. */
    public void wake() {
        if (queued.compareAndSet(false, true)) {
            try {
                worker.execute(this::drain);
            } catch (RejectedExecutionException stopping) {
                // Shutting down: the rows stay in the outbox for the next start.
            }
        }
    }

    /**
     * Starts the sweep, which catches rows left by a failed drain or written by another replica. It starts on
     * the application's start-up event, never from a framework scheduler that could fire before the service
     * is up or after its shutdown began.
     */
    void start(@Observes StartupEvent event) {
        long interval = config.outbox().relayInterval().toMillis();
        worker.scheduleWithFixedDelay(this::wake, 0, interval, TimeUnit.MILLISECONDS);
    }

    // Before the datasource goes away. A term cut short is settled by the next one, here or on another replica.
    void stop(@Observes ShutdownEvent event) throws InterruptedException {
        worker.shutdownNow();
        if (worker.awaitTermination(10, TimeUnit.SECONDS) && publisher != null) {
            publisher.close();
        }
    }

    private void drain() {
        queued.set(false);
        try {
            if (publisher == null) {
                Optional<OutboxPublisher> term = OutboxPublisher.lead(
                        dataSource,
                        kafkaConfig,
                        Topics.RATED_USAGE,
                        config.outbox().transactionalId(),
                        config.outbox().batchSize());
                if (term.isEmpty()) {
                    return;
                }
                publisher = term.get();
            }
            int sent;
            do {
                sent = publisher.publishBatch();
            } while (sent == publisher.batchSize() && !Thread.currentThread().isInterrupted());
        } catch (Exception e) {
            Log.warn("Publishing rated usage failed; the rows stay in the outbox and the next sweep retries", e);
            if (publisher != null) {
                publisher.close();
                publisher = null;
            }
        }
    }
}
