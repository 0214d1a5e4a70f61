package io.flatfare.metering.messaging;

import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.EventSchemas;
import io.flatfare.contracts.events.RatedUsage;
import io.flatfare.contracts.events.Topics;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.metering.config.MeteringConfig;
import io.flatfare.metering.service.BatchResult;
import io.flatfare.metering.service.Intake;
import io.flatfare.metering.service.LedgerService;
import io.flatfare.support.api.DatabaseFailures;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.quarkus.logging.Log;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.common.annotation.Identifier;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Consumes {@code flatfare.usage.v1} a poll batch at a time, consume-transform-produce: the batch is rated and
 * written to the ledger in one database transaction, then its rated usage, its dead letters and its offsets are
 * committed in one Kafka transaction. Offsets therefore never pass an unsaved record, and a {@code read_committed}
 * reader sees each billable event's rated usage once: a batch whose Kafka transaction did not commit (a crash or
 * failure between the two commits) is read again from the committed offsets, and a ledger row recorded from the
 * very same record (partition and offset) has its rated usage sent again, while the same event id at another
 * position is a repeat and sends nothing.
 */
@ApplicationScoped
public class UsageConsumer {

    private static final Duration POLL_TIMEOUT = Duration.ofMillis(500);

    /**
     * How long a consumer closed for a shutdown may take to leave its group. One that leaves hands its partitions to
     * the group's other members at once; one that does not holds them, unread, until its session times out (45 s by
     * default), as after a crash. Bounded, as Kafka may be what is gone; a consumer restarted after a failure closes
     * without waiting.
     */
    private static final Duration LEAVE_TIMEOUT = Duration.ofSeconds(5);

    /** How often the Kafka client's metrics are looked at again for new ones (partitions assigned later). */
    private static final Duration METRICS_REFRESH = Duration.ofSeconds(5);

    private final LedgerService ledger;
    private final Map<String, Object> kafkaConfig;
    private final MeteringConfig config;
    /** Dead letters committed, by cause ({@code flatfare_metering_dead_letters_total{cause}}); 0 from the start. */
    private final Map<String, Counter> deadLetters = new HashMap<>();

    private final MeterRegistry metrics;

    private final Thread thread;
    private volatile boolean stopping;
    private volatile KafkaConsumer<byte[], byte[]> consumer;
    private volatile KafkaProducer<byte[], byte[]> producer;
    private KafkaClientMetrics consumerMetrics;
    private Duration kafkaBackoff;
    private boolean expectRepeats = true;

    UsageConsumer(
            LedgerService ledger,
            @Identifier("default-kafka-broker") Map<String, Object> kafkaConfig,
            MeteringConfig config,
            MeterRegistry metrics) {
        this.ledger = ledger;
        this.kafkaConfig = kafkaConfig;
        this.config = config;
        this.metrics = metrics;
        for (String cause : List.of(Topics.DLQ_CAUSE_INVALID_RECORD, Topics.DLQ_CAUSE_UNRATEABLE)) {
            deadLetters.put(
                    cause,
                    Counter.builder("flatfare.metering.dead.letters")
                            .description("Usage records dead-lettered, by cause; unrateable ones wait for a price"
                                    + " and a replay")
                            .tag("cause", cause)
                            .register(metrics));
        }
        this.kafkaBackoff = config.retryInitialBackoff();
        this.thread = Thread.ofPlatform().name("usage-consumer").unstarted(this::run);
    }

    // After KafkaStartupCheck (an earlier priority) has seen Kafka answer. The producer is made here, so the
    // service is ready only once its transactions can run: initTransactions also aborts what a predecessor with
    // this transactional id left open, so that a read_committed consumer finds the group's offsets stable at once.
    void start(@Observes StartupEvent event) {
        producer = newProducer();
        thread.start();
    }

    // Before the datasource goes away. A batch cut short is read again by the next consumer of its partitions.
    void stop(@Observes ShutdownEvent event) throws InterruptedException {
        stopping = true;
        KafkaConsumer<byte[], byte[]> current = consumer;
        if (current != null) {
            current.wakeup();
        }
        thread.join(Duration.ofSeconds(30));
    }

    /** Whether the consumer runs and its Kafka clients have a connection to a broker (for readiness). */
    public boolean connected() {
        if (!thread.isAlive()) {
            return false;
        }
        KafkaConsumer<byte[], byte[]> current = consumer;
        KafkaProducer<byte[], byte[]> currentProducer = producer;
        return (current != null && connections(current.metrics(), "consumer-metrics") > 0)
                || (currentProducer != null && connections(currentProducer.metrics(), "producer-metrics") > 0);
    }

    private static double connections(Map<MetricName, ? extends Metric> metrics, String group) {
        for (Map.Entry<MetricName, ? extends Metric> metric : metrics.entrySet()) {
            if (metric.getKey().name().equals("connection-count")
                    && metric.getKey().group().equals(group)) {
                return ((Number) metric.getValue().metricValue()).doubleValue();
            }
        }
        return 0;
    }

    private void run() {
        while (!stopping) {
            try {
                if (producer == null) {
                    producer = newProducer();
                }
                consumer = new KafkaConsumer<>(consumerConfig());
                // The client's own metrics, the consumer lag among them (records-lag-max per partition).
                consumerMetrics = new KafkaClientMetrics(
                        consumer,
                        List.of(),
                        Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform()
                                .name("usage-consumer-metrics")
                                .daemon()
                                .factory()),
                        METRICS_REFRESH);
                consumerMetrics.bindTo(metrics);
                consumer.subscribe(List.of(Topics.USAGE));
                while (!stopping) {
                    ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL_TIMEOUT);
                    if (!records.isEmpty()) {
                        handle(records);
                    }
                }
            } catch (WakeupException e) {
                // Shutting down.
            } catch (RuntimeException e) {
                if (!stopping) {
                    Log.error("The usage consumer failed; it starts again (the batch is read again)", e);
                    pause();
                }
            } finally {
                closeClients();
            }
        }
    }

    private void handle(ConsumerRecords<byte[], byte[]> records) {
        List<Intake> valid = new ArrayList<>(records.count());
        Map<String, ConsumerRecord<byte[], byte[]>> byEventId = new HashMap<>();
        List<DeadLetter> rejected = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> record : records) {
            try {
                UsageEvent event = parse(record);
                valid.add(new Intake(event, record.partition(), record.offset()));
                byEventId.putIfAbsent(event.eventId(), record);
            } catch (IllegalArgumentException e) {
                rejected.add(new DeadLetter(record, Topics.DLQ_CAUSE_INVALID_RECORD, e.getMessage()));
            }
        }
        Map<String, String> refused = new HashMap<>();
        BatchResult result = recordWithRetries(valid, refused);
        if (result == null) {
            return;
        }
        List<DeadLetter> letters = new ArrayList<>(rejected);
        refused.forEach((id, reason) ->
                letters.add(new DeadLetter(byEventId.get(id), Topics.DLQ_CAUSE_INVALID_RECORD, reason)));
        result.unrateable()
                .forEach((id, reason) ->
                        letters.add(new DeadLetter(byEventId.get(id), Topics.DLQ_CAUSE_UNRATEABLE, reason)));
        try {
            producer.beginTransaction();
            for (RatedUsage rated : result.rated()) {
                producer.send(ratedRecord(rated));
            }
            for (DeadLetter letter : letters) {
                producer.send(deadLetterRecord(letter));
            }
            producer.sendOffsetsToTransaction(nextOffsets(records), consumer.groupMetadata());
            // Throws if any send failed, or if the group has moved the partitions on (a stale generation).
            producer.commitTransaction();
            kafkaBackoff = config.retryInitialBackoff();
            for (DeadLetter letter : letters) {
                // Unrateable ones wait for a price and a replay (POST /admin/dead-letters/replay): worth an alert.
                deadLetters.get(letter.cause()).increment();
            }
        } catch (WakeupException e) {
            throw e;
        } catch (RuntimeException e) {
            if (stopping) {
                return;
            }
            // The ledger holds the batch; reading it again from the committed offsets sends its rated usage again.
            Log.warnf(e, "Publishing a usage batch's rated usage failed; reading it again in %s", kafkaBackoff);
            resetProducer();
            pause();
            rewind();
        }
    }

    /**
     * The batch recorded in the ledger, retried with backoff; null when stopping. A batch the database refuses for
     * a value in it ({@link LedgerService#isRefused}) would fail forever and stop all billing behind it: it is split
     * in halves, each recorded on its own, down to the single events at fault, which go into {@code refused} (event
     * id → the database's reason) for the dead-letter topic. The halves are separate transactions; a crash between
     * them reads the batch again, and the ledger's ids and positions make that harmless.
     */
    private BatchResult recordWithRetries(List<Intake> valid, Map<String, String> refused) {
        Duration backoff = config.retryInitialBackoff();
        for (int attempt = 1; ; attempt++) {
            try {
                BatchResult result = null;
                // Repeats are rare, so a batch first goes in without the lookup of recorded ids; after a batch
                // that had repeats (or a redelivery after a crash) the next one looks them up first.
                if (!expectRepeats) {
                    try {
                        result = ledger.recordAssumingNew(valid);
                    } catch (RuntimeException e) {
                        if (!LedgerService.isRepeat(e)) {
                            throw e;
                        }
                    }
                }
                if (result == null) {
                    result = ledger.record(valid);
                }
                expectRepeats = result.duplicates() > 0;
                return result;
            } catch (RuntimeException e) {
                if (stopping) {
                    return null;
                }
                if (LedgerService.isRefused(e)) {
                    return recordSplit(valid, refused, e);
                }
                Log.warnf(e, "Recording a usage batch failed (attempt %d); retrying in %s", attempt, backoff);
                if (!sleep(backoff)) {
                    return null;
                }
                backoff = next(backoff);
            }
        }
    }

    private BatchResult recordSplit(List<Intake> valid, Map<String, String> refused, RuntimeException failure) {
        if (valid.size() == 1) {
            String eventId = valid.getFirst().event().eventId();
            // The database's message may quote the row: it goes into the dead letter, the log gets the SQL state.
            Log.warnf(
                    "Usage event %s dead-lettered: the database refused it (SQL state %s)",
                    eventId, DatabaseFailures.sqlState(failure));
            refused.put(eventId, LedgerService.refusal(failure));
            return new BatchResult(0, 0, Map.of(), List.of());
        }
        int half = valid.size() / 2;
        BatchResult first = recordWithRetries(valid.subList(0, half), refused);
        BatchResult second = first == null ? null : recordWithRetries(valid.subList(half, valid.size()), refused);
        return second == null ? null : first.plus(second);
    }

    /** Back to the group's committed offsets for every assigned partition, so the next poll reads them again. */
    private void rewind() {
        Set<TopicPartition> assigned = consumer.assignment();
        Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(assigned);
        for (TopicPartition partition : assigned) {
            OffsetAndMetadata offset = committed.get(partition);
            if (offset == null) {
                consumer.seekToBeginning(List.of(partition));
            } else {
                consumer.seek(partition, offset);
            }
        }
    }

    private void resetProducer() {
        try {
            producer.abortTransaction();
        } catch (RuntimeException e) {
            // Fenced, or a commit whose outcome is unknown: a new producer with the same transactional id
            // settles it (initTransactions completes or aborts it).
            producer.close(Duration.ZERO);
            producer = newProducer();
        }
    }

    private void pause() {
        sleep(kafkaBackoff);
        kafkaBackoff = next(kafkaBackoff);
    }

    private Duration next(Duration backoff) {
        Duration doubled = backoff.multipliedBy(2);
        return doubled.compareTo(config.retryMaxBackoff()) > 0 ? config.retryMaxBackoff() : doubled;
    }

    private boolean sleep(Duration duration) {
        try {
            Thread.sleep(duration);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private void closeClients() {
        if (consumerMetrics != null) {
            // Removes its meters, and stops its scheduler.
            consumerMetrics.close();
            consumerMetrics = null;
        }
        KafkaConsumer<byte[], byte[]> current = consumer;
        consumer = null;
        if (current != null) {
            current.close(stopping ? LEAVE_TIMEOUT : Duration.ZERO);
        }
        if (producer != null) {
            producer.close(Duration.ZERO);
            producer = null;
        }
    }

    private static Map<TopicPartition, OffsetAndMetadata> nextOffsets(ConsumerRecords<byte[], byte[]> records) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (TopicPartition partition : records.partitions()) {
            List<ConsumerRecord<byte[], byte[]>> of = records.records(partition);
            offsets.put(partition, new OffsetAndMetadata(of.getLast().offset() + 1));
        }
        return offsets;
    }

    /** The usage event in the record; {@link IllegalArgumentException} says why it can never be recorded. */
    private static UsageEvent parse(ConsumerRecord<byte[], byte[]> record) {
        if (record.value() == null || record.value().length == 0) {
            throw new IllegalArgumentException("empty record value");
        }
        long size = size(record);
        if (size > Topics.MAX_USAGE_RECORD_BYTES) {
            throw new IllegalArgumentException("a usage record is at most " + Topics.MAX_USAGE_RECORD_BYTES
                    + " bytes (key, value and headers); this one has " + size + ", its value "
                    + record.value().length + " bytes");
        }
        // The schema, then the record's cross-property rules; one pass over the bytes for a valid event.
        return EventSchemas.read(UsageEvent.class, record.value());
    }

    private Map<String, Object> consumerConfig() {
        Map<String, Object> settings = new HashMap<>(kafkaConfig);
        settings.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
        settings.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        settings.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // Also makes the consumer wait for the group's offsets to be stable: never start from an offset that a
        // still-open transaction (with its rated usage) is about to move.
        settings.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        settings.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, config.batchSize());
        // Let a poll fill up under load without waiting when idle.
        settings.put(ConsumerConfig.FETCH_MIN_BYTES_CONFIG, 65536);
        settings.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 50);
        settings.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 4 * 1024 * 1024);
        settings.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        settings.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        return settings;
    }

    private KafkaProducer<byte[], byte[]> newProducer() {
        KafkaProducer<byte[], byte[]> created = new KafkaProducer<>(producerConfig());
        try {
            created.initTransactions();
            return created;
        } catch (RuntimeException e) {
            created.close(Duration.ZERO);
            throw e;
        }
    }

    private Map<String, Object> producerConfig() {
        Map<String, Object> settings = new HashMap<>(kafkaConfig);
        settings.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId());
        settings.put(ProducerConfig.ACKS_CONFIG, "all");
        settings.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        settings.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30_000);
        settings.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
        // Rated usage is repetitive JSON: compressed, the broker stores and serves a fraction of the bytes.
        settings.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        settings.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        settings.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        return settings;
    }

    private String transactionalId() {
        return config.transactionalId().orElseGet(() -> "flatfare-metering-" + hostName());
    }

    private static String hostName() {
        String fromEnv = System.getenv("HOSTNAME");
        if (fromEnv != null && !fromEnv.isBlank()) {
            return fromEnv;
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";
        }
    }

    private static ProducerRecord<byte[], byte[]> ratedRecord(RatedUsage rated) {
        RecordHeaders headers = new RecordHeaders();
        headers.add(Topics.CE_ID, utf8(rated.eventId()));
        headers.add(Topics.CE_TYPE, utf8(Topics.TYPE_RATED_USAGE));
        headers.add(Topics.CE_SOURCE, utf8(Topics.SOURCE_METERING));
        headers.add(Topics.CE_TIME, utf8(rated.ratedAt().toString()));
        headers.add(Topics.CE_SPECVERSION, utf8(Topics.SPEC_VERSION));
        headers.add(Topics.CONTENT_TYPE, utf8(Topics.CONTENT_TYPE_JSON));
        return new ProducerRecord<>(
                Topics.RATED_USAGE, null, utf8(rated.accountId()), EventJson.toJson(rated), headers);
    }

    /** A rejected record and why; {@code cause} is a short category such as {@code invalid-record}. */
    record DeadLetter(ConsumerRecord<byte[], byte[]> record, String cause, String reason) {}

    /** Key, value and header bytes of a record. */
    private static long size(ConsumerRecord<byte[], byte[]> record) {
        long size =
                (record.key() == null ? 0 : record.key().length) + (record.value() == null ? 0 : record.value().length);
        for (Header header : record.headers()) {
            size += header.key().length() + (header.value() == null ? 0 : header.value().length);
        }
        return size;
    }

    /** The longest reason a dead letter carries, in characters. */
    private static final int MAX_REASON_LENGTH = 4096;

    /**
     * Key, value and headers as received, plus the {@code dead-letter-*} headers saying why and where from. A record
     * over {@link Topics#MAX_USAGE_RECORD_BYTES} keeps the first that many bytes of its value and of its key, and
     * none of its headers ({@link Topics#DLQ_VALUE_BYTES}): it has to fit a producer request.
     */
    private static ProducerRecord<byte[], byte[]> deadLetterRecord(DeadLetter letter) {
        ConsumerRecord<byte[], byte[]> record = letter.record();
        boolean whole = size(record) <= Topics.MAX_USAGE_RECORD_BYTES;
        RecordHeaders headers = whole ? new RecordHeaders(record.headers().toArray()) : new RecordHeaders();
        byte[] key = whole ? record.key() : prefix(record.key(), 1024);
        byte[] value = whole ? record.value() : prefix(record.value(), Topics.MAX_USAGE_RECORD_BYTES);
        if (!whole && record.value() != null) {
            headers.add(Topics.DLQ_VALUE_BYTES, utf8(Integer.toString(record.value().length)));
        }
        String reason = letter.reason() == null ? "" : letter.reason();
        if (reason.length() > MAX_REASON_LENGTH) {
            reason = reason.substring(0, MAX_REASON_LENGTH) + "...";
        }
        headers.add(Topics.DLQ_REASON, utf8(reason));
        headers.add(Topics.DLQ_CAUSE, utf8(letter.cause()));
        headers.add(Topics.DLQ_TOPIC, utf8(record.topic()));
        headers.add(Topics.DLQ_PARTITION, utf8(Integer.toString(record.partition())));
        headers.add(Topics.DLQ_OFFSET, utf8(Long.toString(record.offset())));
        return new ProducerRecord<>(Topics.USAGE_DLQ, null, key, value, headers);
    }

    private static byte[] prefix(byte[] bytes, int length) {
        return bytes == null || bytes.length <= length ? bytes : Arrays.copyOf(bytes, length);
    }

    private static byte[] utf8(String value) {
        return value.getBytes(StandardCharsets.UTF_8);
    }
}
