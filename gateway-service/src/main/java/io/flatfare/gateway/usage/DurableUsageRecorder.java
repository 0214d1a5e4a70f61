package io.flatfare.gateway.usage;

import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.Topics;
import io.flatfare.contracts.events.UsageEvent;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.jboss.logging.Logger;

/**
 * Delivers usage events to {@link Topics#USAGE} at least once, through a local disk journal.
 *
 * <p>{@link #record} queues the event for the journal's writer and returns: it never waits for the disk or for
 * Kafka. The writer fsyncs each batch (group commit), so an event handed over is on disk within one fsync, usually
 * a few milliseconds; a process or node crash inside that window loses the events of that batch, a graceful stop
 * does not. A relay thread sends what is on disk with an idempotent producer ({@code acks=all}) and forgets a
 * record only once Kafka acknowledged it; while Kafka is down or slow the events wait on disk, however long.
 *
 * <p>Guarantee: every event handed over reaches Kafka at least once. Duplicates, byte-identical and with the same
 * {@code event_id}, occur only after a crash (records acknowledged since the last cursor persist, at most
 * {@value KafkaRelay#CURSOR_PERSIST_MILLIS} ms before it) or when a delivery failed ambiguously after the producer's
 * own retries; metering de-duplicates on {@code event_id}. A clean restart sends nothing twice.
 *
 * <p>Each record carries key = account id, value = {@link EventJson} of the event, the CloudEvents headers
 * ({@code ce_id}, {@code ce_type}, {@code ce_source}, {@code ce_time}, {@code ce_specversion}, {@code content-type})
 * and the trace context ({@code traceparent}, {@code tracestate}).
 */
public final class DurableUsageRecorder implements UsageRecorder, AutoCloseable {

    private static final Logger LOG = Logger.getLogger(DurableUsageRecorder.class);

    /** How long a send may wait for metadata or buffer space; bounds how long the relay thread can block. */
    private static final int MAX_BLOCK_MS = 5000;

    /** The producer's {@code linger.ms} unless {@code kafka.linger.ms} sets it. */
    static final int LINGER_MS = 20;

    /**
     * @param journalDir the journal directory
     * @param segmentBytes size beyond which a new segment is begun
     * @param deliveryTimeout the producer's {@code delivery.timeout.ms}
     * @param maxInFlight records handed to the producer and not acknowledged, at most
     * @param maxJournalBytes beyond this many bytes in the journal, new requests are refused (see {@link
     *     #accepting()}); at least two segments, since up to one segment of acknowledged records stays on disk
     */
    public record Settings(
            Path journalDir, long segmentBytes, Duration deliveryTimeout, int maxInFlight, long maxJournalBytes) {

        public Settings {
            if (maxJournalBytes < 2 * segmentBytes) {
                throw new IllegalArgumentException("The usage journal's maximum size (" + maxJournalBytes
                        + " bytes) must be at least twice its segment size (" + segmentBytes + " bytes)");
            }
        }
    }

    private final MeterRegistry meters;
    private final Gauge backlogGauge;
    private final Gauge ageGauge;
    private final Gauge bytesGauge;
    private final long maxJournalBytes;
    private final UsageJournal journal;
    private final KafkaRelay relay;
    private final AtomicLong backlog;
    private final Counter recorded;
    private final Counter sent;
    private final Counter retried;
    private final AtomicBoolean full = new AtomicBoolean();
    private volatile boolean closed;

    private DurableUsageRecorder(
            UsageJournal journal, Settings settings, Map<String, Object> producerConfig, MeterRegistry meters) {
        this.journal = journal;
        this.maxJournalBytes = settings.maxJournalBytes();
        this.backlog = new AtomicLong(journal.recoveredBacklog());
        this.recorded = Counter.builder("flatfare.gateway.usage.recorded")
                .description("Usage events handed over for delivery")
                .register(meters);
        this.sent = Counter.builder("flatfare.gateway.usage.sent")
                .description("Usage events acknowledged by Kafka")
                .register(meters);
        this.retried = Counter.builder("flatfare.gateway.usage.retried")
                .description("Usage event sends repeated after a failed delivery")
                .register(meters);
        this.meters = meters;
        this.backlogGauge = Gauge.builder("flatfare.gateway.usage.backlog", this, DurableUsageRecorder::backlog)
                .description("Usage events handed over and not yet acknowledged by Kafka")
                .register(meters);
        this.ageGauge = Gauge.builder(
                        "flatfare.gateway.usage.oldest.age",
                        this,
                        r -> r.oldestUnacknowledgedAge().toMillis() / 1000.0)
                .description("Age of the oldest usage event not yet acknowledged by Kafka")
                .baseUnit("seconds")
                .register(meters);
        this.bytesGauge = Gauge.builder("flatfare.gateway.usage.journal.size", journal, UsageJournal::heldBytes)
                .description("Bytes the usage journal holds on disk and waiting to be written")
                .baseUnit("bytes")
                .register(meters);
        this.relay = new KafkaRelay(
                Topics.USAGE,
                journal,
                () -> new KafkaProducer<>(producerConfig),
                settings.maxInFlight(),
                new KafkaRelay.Listener() {
                    @Override
                    public void acknowledged() {
                        backlog.decrementAndGet();
                        sent.increment();
                    }

                    @Override
                    public void retried() {
                        retried.increment();
                    }
                });
    }

    /**
     * Opens the journal in {@code settings.journalDir()}, recovers what a previous run left unacknowledged and
     * starts sending it.
     *
     * @param kafka client settings, as in {@code kafka.*} without the prefix; {@code bootstrap.servers} at least.
     *     Settings the guarantee depends on (acks, idempotence, serializers) are overridden.
     * @throws IOException when the journal directory cannot be used
     */
    public static DurableUsageRecorder start(Settings settings, Map<String, Object> kafka, MeterRegistry meters)
            throws IOException {
        UsageJournal journal = UsageJournal.open(settings.journalDir(), settings.segmentBytes());
        DurableUsageRecorder recorder =
                new DurableUsageRecorder(journal, settings, producerConfig(kafka, settings), meters);
        if (journal.recoveredBacklog() > 0) {
            LOG.infof(
                    "Usage journal %s holds %d event(s) not acknowledged by Kafka; sending them again",
                    settings.journalDir(), journal.recoveredBacklog());
        }
        recorder.relay.start();
        return recorder;
    }

    @Override
    public void record(UsageEvent event, Map<String, String> headers) {
        byte[] value = EventJson.toJson(event);
        if (closed) {
            // After shutdown (the HTTP server is stopped by then, so this is a stray caller): the log is all there is.
            LOG.errorf("Usage event recorded after shutdown, not delivered: %s", EventJson.toJsonString(event));
            return;
        }
        Map<String, String> recordHeaders = headers(event, headers);
        UsageJournal.Entry entry;
        try {
            entry = new UsageJournal.Entry(System.currentTimeMillis(), event.accountId(), recordHeaders, value);
        } catch (IllegalArgumentException e) {
            LOG.errorf("Usage event cannot be journaled (%s): %s", e.getMessage(), EventJson.toJsonString(event));
            return;
        }
        backlog.incrementAndGet();
        if (!journal.append(entry)) {
            backlog.decrementAndGet();
            LOG.errorf("Usage event recorded during shutdown, not delivered: %s", EventJson.toJsonString(event));
            return;
        }
        recorded.increment();
    }

    @Override
    public void warmUp(UsageEvent event, Map<String, String> headers) {
        byte[] value = EventJson.toJson(event);
        Map<String, String> recordHeaders = headers(event, headers);
        JournalRecord.frameBytes(event.accountId(), recordHeaders, value);
    }

    @Override
    public long backlog() {
        return backlog.get();
    }

    /**
     * Whether a new request may be served: its event can be kept. False while the journal cannot be written (a full
     * or failing disk: events then wait in memory only) and while it holds {@link Settings#maxJournalBytes()} or
     * more (Kafka away for long); a request refused for this has no event to keep. Cheap: no I/O.
     */
    @Override
    public boolean accepting() {
        boolean overSize = journal.heldBytes() >= maxJournalBytes;
        if (overSize != full.get() && full.compareAndSet(!overSize, overSize)) {
            if (overSize) {
                LOG.errorf(
                        "The usage journal in %s holds %d bytes, its maximum is %d: new requests are refused (503)"
                                + " until Kafka has acknowledged its backlog of %d event(s)",
                        journal.directory(), journal.heldBytes(), maxJournalBytes, backlog());
            } else {
                LOG.infof("The usage journal is below its maximum size again; requests are served");
            }
        }
        return !closed && !journal.failing() && !overSize;
    }

    /** Why new requests are refused, while {@link #accepting()} is false. */
    public Optional<String> refusal() {
        if (closed) {
            return Optional.of("the usage recorder is closed");
        }
        if (journal.failing()) {
            return Optional.of("the usage journal cannot be written");
        }
        if (journal.heldBytes() >= maxJournalBytes) {
            return Optional.of("the usage journal is full (" + journal.heldBytes() + " of " + maxJournalBytes
                    + " bytes): Kafka has not acknowledged its events");
        }
        return Optional.empty();
    }

    /** Bytes the journal holds (see {@link Settings#maxJournalBytes()}). */
    public long journalBytes() {
        return journal.heldBytes();
    }

    public long maxJournalBytes() {
        return maxJournalBytes;
    }

    /** Whether events can be journaled now: the directory is there and writable and the last write succeeded. */
    public boolean journalWritable() {
        return !closed && journal.writable();
    }

    /** Why the journal cannot be written, while it cannot. */
    public Optional<String> journalError() {
        return journal.writeError();
    }

    /** Whether the producer holds a connection to a Kafka broker now. */
    public boolean kafkaConnected() {
        return relay.kafkaConnected();
    }

    /** How long the oldest event not yet acknowledged has waited; zero when there is none. */
    public Duration oldestUnacknowledgedAge() {
        long oldest = relay.oldestPendingMillis();
        if (oldest < 0) {
            oldest = journal.oldestUnwrittenMillis().orElse(-1L);
        }
        return oldest < 0 || backlog() == 0
                ? Duration.ZERO
                : Duration.ofMillis(Math.max(0, System.currentTimeMillis() - oldest));
    }

    public Path journalDirectory() {
        return journal.directory();
    }

    /** Waits until every event handed over before the call is on disk; false when {@code timeout} passed first. */
    boolean flush(Duration timeout) throws InterruptedException {
        return journal.flush(timeout);
    }

    /**
     * Journals what is queued, then waits up to {@code timeout} for Kafka to acknowledge the backlog; what is left
     * stays in the journal for the next start.
     */
    public void close(Duration timeout) {
        if (closed) {
            return;
        }
        closed = true;
        // A gauge holds its object weakly and meters outlive one recorder in a shared registry (one JVM running
        // several applications, as tests do): a later recorder must register its own, not find this one's.
        meters.remove(backlogGauge);
        meters.remove(ageGauge);
        meters.remove(bytesGauge);
        long deadline = System.nanoTime() + timeout.toNanos();
        journal.stopWriting(timeout);
        relay.stop(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
        journal.close();
        long left = backlog();
        if (left > 0) {
            LOG.infof(
                    "Usage recorder stopped with %d event(s) not acknowledged by Kafka; they stay in %s for the next"
                            + " start",
                    left, journal.directory());
        }
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(10));
    }

    private static Map<String, String> headers(UsageEvent event, Map<String, String> given) {
        Map<String, String> trace = given == null ? Map.of() : given;
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put(Topics.CE_ID, event.eventId());
        headers.put(Topics.CE_TYPE, Topics.TYPE_USAGE);
        headers.put(Topics.CE_SOURCE, Topics.SOURCE_GATEWAY);
        headers.put(Topics.CE_TIME, event.occurredAt().toString());
        headers.put(Topics.CE_SPECVERSION, Topics.SPEC_VERSION);
        headers.put(Topics.CONTENT_TYPE, Topics.CONTENT_TYPE_JSON);
        // The request's trace context as its call captured it on arrival. Not Context.current(): the end of a call
        // runs on whichever thread relayed the last answer, outside the request's context.
        trace.forEach(headers::putIfAbsent);
        return headers;
    }

    private static Map<String, Object> producerConfig(Map<String, Object> kafka, Settings settings) {
        Map<String, Object> config = new HashMap<>();
        kafka.forEach((name, value) -> {
            // The shared kafka.* settings also hold consumer and Quarkus keys the producer would warn about.
            if (ProducerConfig.configNames().contains(name)) {
                config.put(name, value);
            }
        });
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        config.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5);
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int)
                settings.deliveryTimeout().toMillis());
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, MAX_BLOCK_MS);
        // No client waits for a usage event: holding a batch open up to 20 ms puts several events in one produce
        // request where 5 ms put one, and each produce request costs the producer's network thread, the relay and
        // the broker far more CPU (on the cores requests are served on) than one more event in it does.
        config.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, LINGER_MS);
        return config;
    }
}
