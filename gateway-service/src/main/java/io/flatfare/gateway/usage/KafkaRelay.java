package io.flatfare.gateway.usage;

import io.flatfare.contracts.events.Topics;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.jboss.logging.Logger;

/**
 * Sends journaled records to Kafka on one thread and moves the journal's cursor past what Kafka acknowledged.
 *
 * <p>Up to {@code maxInFlight} records are handed to the producer at once; the idempotent producer retries them
 * itself (no duplicates within its delivery timeout). A record whose delivery fails anyway is sent again after a
 * back-off, so nothing is dropped; while Kafka keeps failing only one record is tried at a time, so that an outage
 * costs neither memory nor a blocked send per record. The cursor is the lowest record not acknowledged, persisted
 * at most every {@value #CURSOR_PERSIST_MILLIS} ms and on stop: a crash sends the records acknowledged since the
 * last persist again (consumers are idempotent on the event id); a clean stop sends nothing twice.
 */
final class KafkaRelay {

    private static final Logger LOG = Logger.getLogger(KafkaRelay.class);

    static final long CURSOR_PERSIST_MILLIS = 200;
    private static final long IDLE_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    private static final long MIN_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    private static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(5);
    private static final int READ_CHUNK = 256;

    /** What the relay reports to the recorder. */
    interface Listener {
        void acknowledged();

        void retried();
    }

    private static final class Attempt {
        final JournalRecord record;
        int attempts;
        boolean inFlight;

        Attempt(JournalRecord record) {
            this.record = record;
        }
    }

    private record Completion(long seq, int attempt, Exception error) {}

    private final String topic;
    private final UsageJournal journal;
    private final UsageJournal.Reader reader;
    private final Supplier<Producer<String, byte[]>> producers;
    private final int maxInFlight;
    private final Listener listener;
    private final Thread thread;
    private final ConcurrentLinkedQueue<Completion> completions = new ConcurrentLinkedQueue<>();

    private volatile Producer<String, byte[]> producer;
    private volatile long oldestPendingMillis = -1;
    private volatile boolean stopping;
    private volatile long stopDeadlineNanos;

    // Relay thread only.
    private final TreeMap<Long, Attempt> pending = new TreeMap<>();
    private final NavigableSet<Long> waitingRetry = new TreeSet<>();
    private int attemptsInFlight;
    private int consecutiveFailures;
    private long retryAtNanos;
    private long lastProbe = -1;
    private long nextProducerAttemptNanos;
    private long lastPersistNanos;
    private long persistedCursor;
    private boolean readerDrained;

    KafkaRelay(
            String topic,
            UsageJournal journal,
            Supplier<Producer<String, byte[]>> producers,
            int maxInFlight,
            Listener listener) {
        this.topic = topic;
        this.journal = journal;
        this.reader = journal.reader(journal.recoveredCursor());
        this.producers = producers;
        this.maxInFlight = maxInFlight;
        this.listener = listener;
        this.persistedCursor = journal.recoveredCursor();
        this.thread = Thread.ofPlatform().name("usage-kafka-relay").daemon().unstarted(this::run);
    }

    void start() {
        journal.onDurable(this::wake);
        thread.start();
    }

    /** Looks at the journal and the completions now rather than at the next tick. */
    void wake() {
        LockSupport.unpark(thread);
    }

    /**
     * Keeps sending until everything on disk is acknowledged or {@code timeout} has passed, then stops and persists
     * the cursor; what is not acknowledged stays in the journal. The journal must have stopped writing.
     */
    void stop(Duration timeout) {
        stopDeadlineNanos = System.nanoTime() + timeout.toNanos();
        stopping = true;
        wake();
        try {
            // A send blocked on metadata returns within max.block.ms; closing the producer cuts it short.
            thread.join(timeout.toMillis() + 1000);
            if (thread.isAlive()) {
                Producer<String, byte[]> current = producer;
                if (current != null) {
                    current.close(Duration.ZERO);
                }
                thread.join(TimeUnit.SECONDS.toMillis(10));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            LOG.error("The usage relay did not stop; its records stay in the journal");
        }
    }

    /** Whether the producer holds a connection to a broker now. */
    boolean kafkaConnected() {
        Producer<String, byte[]> current = producer;
        if (current == null) {
            return false;
        }
        try {
            for (Map.Entry<MetricName, ? extends Metric> metric :
                    current.metrics().entrySet()) {
                MetricName name = metric.getKey();
                if (name.name().equals("connection-count") && name.group().equals("producer-metrics")) {
                    return metric.getValue().metricValue() instanceof Number count && count.doubleValue() > 0;
                }
            }
        } catch (RuntimeException closed) {
            return false;
        }
        return false;
    }

    /** When the oldest record handed to Kafka and not acknowledged was appended, or -1. */
    long oldestPendingMillis() {
        return oldestPendingMillis;
    }

    private void run() {
        try {
            loop();
        } catch (RuntimeException | Error e) {
            LOG.error("The usage relay failed; unacknowledged records stay in the journal for the next start", e);
        } finally {
            finish();
        }
    }

    private void loop() {
        while (true) {
            if (producer == null && !createProducer()) {
                if (stopping && System.nanoTime() - stopDeadlineNanos >= 0) {
                    return;
                }
                LockSupport.parkNanos(this, Math.min(MAX_BACKOFF_NANOS, untilStopDeadline()));
                continue;
            }
            processCompletions();
            boolean progressed = resendDue();
            if (consecutiveFailures == 0) {
                progressed |= sendNew();
            }
            publishOldest();
            persistCursor(false);
            if (stopping) {
                if (pending.isEmpty() && readerDrained) {
                    return;
                }
                if (System.nanoTime() - stopDeadlineNanos >= 0) {
                    return;
                }
            }
            if (!progressed && completions.isEmpty()) {
                long park = IDLE_PARK_NANOS;
                if (!waitingRetry.isEmpty()) {
                    park = Math.max(1, Math.min(park, retryAtNanos - System.nanoTime()));
                }
                LockSupport.parkNanos(this, Math.min(park, untilStopDeadline()));
            }
        }
    }

    private long untilStopDeadline() {
        return stopping ? Math.max(1, stopDeadlineNanos - System.nanoTime()) : Long.MAX_VALUE;
    }

    private boolean createProducer() {
        if (System.nanoTime() - nextProducerAttemptNanos < 0) {
            return false;
        }
        try {
            producer = producers.get();
        } catch (KafkaException e) {
            // E.g. a bootstrap host that does not resolve yet; the journal keeps the records meanwhile.
            LOG.warnf("Cannot create the Kafka producer for usage events (%s); retrying", e.getMessage());
            nextProducerAttemptNanos = System.nanoTime() + MAX_BACKOFF_NANOS;
            return false;
        }
        try {
            // Connects early, so that readiness reports the broker before the first event.
            producer.partitionsFor(topic);
        } catch (KafkaException e) {
            LOG.warnf("Kafka is not reachable (%s); usage events are kept in the journal until it is", e.getMessage());
        }
        return true;
    }

    private boolean sendNew() {
        boolean sent = false;
        while (consecutiveFailures == 0 && producer != null && pending.size() < maxInFlight) {
            List<JournalRecord> records;
            try {
                records = reader.read(Math.min(READ_CHUNK, maxInFlight - pending.size()));
            } catch (IOException e) {
                LOG.errorf(e, "Cannot read the usage journal in %s; retrying", journal.directory());
                readerDrained = false;
                return sent;
            }
            readerDrained = records.isEmpty();
            if (records.isEmpty()) {
                return sent;
            }
            for (JournalRecord record : records) {
                Attempt attempt = new Attempt(record);
                pending.put(record.seq(), attempt);
                if (consecutiveFailures == 0 && producer != null) {
                    send(attempt);
                    // A send that failed at once (no metadata within max.block.ms) means Kafka is away: wait.
                    processCompletions();
                } else {
                    waitingRetry.add(record.seq());
                }
            }
            sent = true;
        }
        return sent;
    }

    private boolean resendDue() {
        if (waitingRetry.isEmpty() || System.nanoTime() - retryAtNanos < 0) {
            return false;
        }
        if (consecutiveFailures > 0) {
            if (attemptsInFlight > 0) {
                return false;
            }
            // Round robin, so that one record Kafka always refuses cannot hold back the others.
            Long probe = waitingRetry.higher(lastProbe);
            if (probe == null) {
                probe = waitingRetry.first();
            }
            lastProbe = probe;
            waitingRetry.remove(probe);
            send(pending.get(probe));
            return true;
        }
        while (!waitingRetry.isEmpty() && consecutiveFailures == 0 && producer != null) {
            send(pending.get(waitingRetry.pollFirst()));
            processCompletions();
        }
        return true;
    }

    private void send(Attempt attempt) {
        attempt.attempts++;
        attempt.inFlight = true;
        attemptsInFlight++;
        if (attempt.attempts > 1) {
            listener.retried();
        }
        JournalRecord record = attempt.record;
        long seq = record.seq();
        int number = attempt.attempts;
        RecordHeaders headers = new RecordHeaders();
        record.headers().forEach((name, value) -> headers.add(name, value.getBytes(StandardCharsets.UTF_8)));
        ProducerRecord<String, byte[]> message =
                new ProducerRecord<>(topic, null, record.key(), record.value(), headers);
        try {
            producer.send(message, (metadata, error) -> {
                completions.add(new Completion(seq, number, error));
                wake();
            });
        } catch (KafkaException | IllegalStateException e) {
            // The producer cannot be used any more (a fatal error): its records fail and go to a new one.
            completions.add(new Completion(seq, number, e));
            replaceProducer();
        }
    }

    private void replaceProducer() {
        Producer<String, byte[]> broken = producer;
        producer = null;
        try {
            broken.close(Duration.ZERO);
        } catch (RuntimeException e) {
            LOG.debug("Closing a failed Kafka producer failed", e);
        }
    }

    private void processCompletions() {
        Completion completion;
        while ((completion = completions.poll()) != null) {
            Attempt attempt = pending.get(completion.seq);
            if (attempt == null || attempt.attempts != completion.attempt || !attempt.inFlight) {
                continue;
            }
            attempt.inFlight = false;
            attemptsInFlight--;
            if (completion.error == null) {
                pending.remove(completion.seq);
                listener.acknowledged();
                if (consecutiveFailures > 0) {
                    LOG.infof("Kafka acknowledges usage events again; %d record(s) to resend", waitingRetry.size());
                    consecutiveFailures = 0;
                    retryAtNanos = System.nanoTime();
                }
            } else {
                failed(attempt, completion.error);
            }
        }
    }

    private void failed(Attempt attempt, Exception error) {
        waitingRetry.add(attempt.record.seq());
        if (stopping && System.nanoTime() - stopDeadlineNanos >= 0) {
            return; // Cut short by the stop: the record stays in the journal, nothing to report.
        }
        if (!(error instanceof RetriableException)) {
            LOG.errorf(
                    "Kafka refused usage event %s (%s); it stays in the journal and is retried",
                    attempt.record.headers().get(Topics.CE_ID), error.toString());
        } else if (consecutiveFailures == 0) {
            LOG.warnf(
                    "Kafka did not acknowledge usage events (%s); they stay in the journal and are retried",
                    error.toString());
        }
        consecutiveFailures++;
        long backoff = MIN_BACKOFF_NANOS << Math.min(consecutiveFailures - 1, 6);
        retryAtNanos = System.nanoTime() + Math.min(backoff, MAX_BACKOFF_NANOS);
    }

    private void publishOldest() {
        Map.Entry<Long, Attempt> first = pending.firstEntry();
        oldestPendingMillis = first == null ? -1 : first.getValue().record.appendedAtMillis();
    }

    private long cursor() {
        return pending.isEmpty() ? reader.nextSeq() : pending.firstKey();
    }

    private void persistCursor(boolean force) {
        long now = System.nanoTime();
        long cursor = cursor();
        if (cursor == persistedCursor
                || (!force && now - lastPersistNanos < TimeUnit.MILLISECONDS.toNanos(CURSOR_PERSIST_MILLIS))) {
            return;
        }
        try {
            journal.acknowledge(cursor);
            persistedCursor = cursor;
            lastPersistNanos = now;
        } catch (IOException e) {
            // Not a loss: the records are sent again after a restart.
            LOG.warnf("Cannot persist the usage journal cursor (%s)", e.toString());
            lastPersistNanos = now;
        }
    }

    private void finish() {
        Producer<String, byte[]> current = producer;
        if (current != null) {
            try {
                // Waits for the acknowledgements of what is in flight, up to the stop deadline.
                current.close(Duration.ofNanos(Math.max(0, stopDeadlineNanos - System.nanoTime())));
            } catch (RuntimeException e) {
                LOG.debug("Closing the Kafka producer failed", e);
            }
        }
        processCompletions();
        publishOldest();
        persistCursor(true);
        reader.close();
    }
}
