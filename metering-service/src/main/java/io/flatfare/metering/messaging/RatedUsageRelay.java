package io.flatfare.metering.messaging;

import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.RatedUsage;
import io.flatfare.contracts.events.Topics;
import io.flatfare.metering.config.MeteringConfig;
import io.flatfare.metering.domain.OutboxEntry;
import io.flatfare.metering.domain.OutboxRepository;
import io.quarkus.logging.Log;
import io.quarkus.narayana.jta.QuarkusTransaction;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.scheduler.Scheduled;
import io.smallrye.mutiny.Uni;
import io.smallrye.reactive.messaging.MutinyEmitter;
import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.eclipse.microprofile.reactive.messaging.OnOverflow;

/**
 * Publishes the transactional outbox to {@code flatfare.rated-usage.v1}. A row is deleted only in the
 * transaction that saw Kafka acknowledge it, so a record is never lost; a crash after the acknowledgement and
 * before the commit publishes it again, byte-identical, which finance de-duplicates on {@code event_id}.
 */
@ApplicationScoped
public class RatedUsageRelay {

    private static final Duration SEND_TIMEOUT = Duration.ofSeconds(60);

    private final OutboxRepository outbox;
    private final MeteringConfig config;
    private final AtomicBoolean queued = new AtomicBoolean();
    private final ExecutorService worker = Executors.newSingleThreadExecutor(
            Thread.ofPlatform().name("rated-usage-relay").daemon().factory());

    @Inject
    @Channel("rated-usage")
    @OnOverflow(OnOverflow.Strategy.UNBOUNDED_BUFFER)
    MutinyEmitter<String> emitter;

    RatedUsageRelay(OutboxRepository outbox, MeteringConfig config) {
        this.outbox = outbox;
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

    // The timer catches rows left by a failed drain or written by a replica that died before relaying.
    @Scheduled(
            every = "${flatfare.metering.outbox.relay-interval:1s}",
            concurrentExecution = Scheduled.ConcurrentExecution.SKIP)
    void tick() {
        wake();
    }

    // Before the datasource goes away; a drain cut short leaves its rows in the outbox for the next start.
    void stop(@Observes ShutdownEvent event) {
        worker.shutdownNow();
    }

    private void drain() {
        queued.set(false);
        try {
            int sent;
            do {
                sent = QuarkusTransaction.requiringNew().call(this::publishOneBatch);
            } while (sent == config.outbox().batchSize());
        } catch (RuntimeException e) {
            Log.warn("Publishing rated usage failed; the rows stay in the outbox and are retried", e);
        }
    }

    private int publishOneBatch() {
        List<OutboxEntry> rows = outbox.lockOldest(config.outbox().batchSize());
        if (rows.isEmpty()) {
            return 0;
        }
        List<Uni<Void>> sends =
                rows.stream().map(r -> emitter.sendMessage(message(r))).toList();
        Uni.join().all(sends).andFailFast().await().atMost(SEND_TIMEOUT);
        outbox.delete("id in ?1", rows.stream().map(r -> r.id).toList());
        return rows.size();
    }

    private static Message<String> message(OutboxEntry row) {
        RatedUsage rated = EventJson.fromJson(row.payload, RatedUsage.class);
        RecordHeaders headers = new RecordHeaders();
        headers.add(Topics.CE_ID, utf8(rated.eventId()));
        headers.add(Topics.CE_TYPE, utf8(Topics.TYPE_RATED_USAGE));
        headers.add(Topics.CE_SOURCE, utf8(Topics.SOURCE_METERING));
        headers.add(Topics.CE_TIME, utf8(rated.ratedAt().toString()));
        headers.add(Topics.CE_SPECVERSION, utf8(Topics.SPEC_VERSION));
        headers.add(Topics.CONTENT_TYPE, utf8(Topics.CONTENT_TYPE_JSON));
        return Message.of(row.payload)
                .addMetadata(OutgoingKafkaRecordMetadata.<String>builder()
                        .withKey(row.accountId)
                        .withHeaders(headers)
                        .build());
    }

    private static byte[] utf8(String value) {
        return value.getBytes(StandardCharsets.UTF_8);
    }
}
