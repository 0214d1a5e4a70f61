package io.flatfare.metering.messaging;

import io.flatfare.contracts.events.EventSchemas;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.metering.config.MeteringConfig;
import io.flatfare.metering.messaging.DeadLetters.DeadLetter;
import io.flatfare.metering.service.BatchResult;
import io.flatfare.metering.service.Intake;
import io.flatfare.metering.service.LedgerService;
import io.quarkus.logging.Log;
import io.quarkus.runtime.ShutdownEvent;
import io.smallrye.common.annotation.Blocking;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.eclipse.microprofile.reactive.messaging.Incoming;

/**
 * Consumes {@code flatfare.usage.v1} a poll batch at a time. Offsets are committed by the connector only after
 * this method returns, i.e. after the batch is in the ledger and its rejects are on the dead-letter topic; a
 * failure is retried here, with backoff, until it succeeds, so no offset passes an unsaved record.
 */
@ApplicationScoped
public class UsageConsumer {

    private final LedgerService ledger;
    private final DeadLetters deadLetters;
    private final RatedUsageRelay relay;
    private final MeteringConfig config;
    private volatile boolean stopping;

    UsageConsumer(LedgerService ledger, DeadLetters deadLetters, RatedUsageRelay relay, MeteringConfig config) {
        this.ledger = ledger;
        this.deadLetters = deadLetters;
        this.relay = relay;
        this.config = config;
    }

    void onStop(@Observes ShutdownEvent event) {
        stopping = true;
    }

    @Incoming("usage")
    @Blocking
    public void consume(ConsumerRecords<byte[], byte[]> records) {
        List<Intake> valid = new ArrayList<>(records.count());
        Map<String, ConsumerRecord<byte[], byte[]>> byEventId = new HashMap<>();
        List<DeadLetter> rejected = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> record : records) {
            try {
                UsageEvent event = parse(record);
                valid.add(new Intake(event, record.partition(), record.offset()));
                byEventId.putIfAbsent(event.eventId(), record);
            } catch (IllegalArgumentException e) {
                rejected.add(new DeadLetter(record, "invalid-record", e.getMessage()));
            }
        }
        BatchResult result = withRetries(() -> {
            BatchResult recorded = ledger.record(valid);
            List<DeadLetter> letters = new ArrayList<>(rejected);
            recorded.unrateable()
                    .forEach((id, reason) -> letters.add(new DeadLetter(byEventId.get(id), "unrateable", reason)));
            // After the ledger commit: a crash in between re-sends a dead letter, it never loses a usage row.
            deadLetters.send(letters);
            return recorded;
        });
        if (result.recorded() > 0) {
            relay.wake();
        }
    }

    /** The usage event in the record; {@link IllegalArgumentException} says why it can never be recorded. */
    private static UsageEvent parse(ConsumerRecord<byte[], byte[]> record) {
        if (record.value() == null || record.value().length == 0) {
            throw new IllegalArgumentException("empty record value");
        }
        // The schema, then the record's cross-property rules; one pass over the bytes for a valid event.
        return EventSchemas.read(UsageEvent.class, record.value());
    }

    private <T> T withRetries(Supplier<T> work) {
        Duration backoff = config.retryInitialBackoff();
        for (int attempt = 1; ; attempt++) {
            try {
                return work.get();
            } catch (RuntimeException e) {
                if (stopping) {
                    throw e;
                }
                Log.warnf(e, "Recording a usage batch failed (attempt %d); retrying in %s", attempt, backoff);
                try {
                    Thread.sleep(backoff);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
                backoff = backoff.multipliedBy(2).compareTo(config.retryMaxBackoff()) > 0
                        ? config.retryMaxBackoff()
                        : backoff.multipliedBy(2);
            }
        }
    }
}
