package io.flatfare.metering.messaging;

import io.flatfare.contracts.events.Topics;
import io.flatfare.metering.config.MeteringConfig;
import io.flatfare.metering.service.MeteringException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.logging.Log;
import io.smallrye.common.annotation.Identifier;
import jakarta.enterprise.context.ApplicationScoped;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantLock;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Moves dead letters of one cause back onto {@code flatfare.usage.v1}: {@code unrateable} ones, billable events
 * whose tier had no price at their time, once an operator has added the price; or {@code invalid-record} ones once
 * metering understands them (a gateway of a newer release wrote events an older metering refused). Without this
 * they would stay on the dead-letter topic until its retention deletes them: requests served and never billed.
 *
 * <p>A replay reads the dead-letter topic from where the previous one of its cause stopped (the offsets of that
 * cause's own consumer group, {@code <group-id>-dlq-replay-<cause>}) up to the topic's end as it was when the
 * replay began, so that what the usage consumer dead-letters again meanwhile (a tier still without a price) waits
 * for the next replay instead of going round in a loop. Each poll batch is one Kafka transaction: its records of
 * the cause sent to the usage topic together with the cursor's offsets past them, so a dead letter is moved
 * exactly once even when the replica dies halfway, and the ledger (one row per event id) would absorb a repeat
 * anyway. Records of the other causes are passed over, counted by cause, and wait for their own cursor.
 *
 * <p>The replays of one cause on all replicas share one transactional id, so two at once fence each other: the
 * later one goes on from where the earlier one's last committed batch left off, and the earlier one stops with a
 * conflict.
 */
@ApplicationScoped
public class DeadLetterReplay {

    private static final Duration POLL_TIMEOUT = Duration.ofMillis(200);
    private static final int MAX_POLL_RECORDS = 1000;
    private static final String DEAD_LETTER_HEADER_PREFIX = "dead-letter-";

    /** The causes a replay can take back. */
    public static final List<String> CAUSES = List.of(Topics.DLQ_CAUSE_UNRATEABLE, Topics.DLQ_CAUSE_INVALID_RECORD);

    private final Map<String, Object> kafkaConfig;
    private final MeteringConfig config;
    /** Dead letters put back on the usage topic ({@code flatfare_metering_dead_letters_replayed_total}). */
    private final Counter replayedCounter;

    private final ReentrantLock running = new ReentrantLock();

    DeadLetterReplay(
            @Identifier("default-kafka-broker") Map<String, Object> kafkaConfig,
            MeteringConfig config,
            MeterRegistry metrics) {
        this.kafkaConfig = kafkaConfig;
        this.config = config;
        this.replayedCounter = Counter.builder("flatfare.metering.dead.letters.replayed")
                .description("Unrateable dead letters put back on the usage topic by a replay")
                .register(metrics);
    }

    /**
     * What one replay did: dead letters put back on the usage topic, those passed over by cause, and whether the
     * topic holds more (the limit or the time was reached first).
     */
    public record Result(long replayed, Map<String, Long> passedOver, boolean hasMore) {}

    /**
     * Replays at most {@code limit} dead letters (read, replayed or passed over), for at most {@code maxTime}; what
     * a replay cut short has moved stays moved, and the next call goes on from there.
     */
    public Result replay(String cause, int limit, Duration maxTime) {
        if (!CAUSES.contains(cause)) {
            throw MeteringException.invalid("cause", "'cause' must be one of " + CAUSES + ".");
        }
        if (!running.tryLock()) {
            throw MeteringException.conflict(
                    null, "replay_in_progress", "A replay of the dead letters is running on this replica already.");
        }
        KafkaProducer<byte[], byte[]> producer = null;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerConfig(cause))) {
            // First the producer: its initTransactions fences any replay still running elsewhere and settles its
            // open transaction, so the offsets read next are where that one really stopped.
            producer = new KafkaProducer<>(producerConfig(cause));
            producer.initTransactions();
            return replay(consumer, producer, cause, limit, System.nanoTime() + maxTime.toNanos());
        } catch (ProducerFencedException | InvalidProducerEpochException e) {
            throw MeteringException.conflict(
                    null,
                    "replay_in_progress",
                    "Another replay of the dead letters started and took over; what this one moved stays moved.");
        } catch (KafkaException e) {
            Log.warnf(e, "A replay of the dead letters failed");
            throw MeteringException.unavailable(
                    "kafka_unavailable",
                    "Kafka did not answer the replay of the dead letters; what was moved stays moved, retry later.");
        } finally {
            if (producer != null) {
                producer.close(Duration.ofSeconds(5));
            }
            running.unlock();
        }
    }

    private Result replay(
            KafkaConsumer<byte[], byte[]> consumer,
            KafkaProducer<byte[], byte[]> producer,
            String wanted,
            int limit,
            long deadline) {
        List<TopicPartition> partitions = consumer.partitionsFor(Topics.USAGE_DLQ).stream()
                .map(info -> new TopicPartition(info.topic(), info.partition()))
                .toList();
        consumer.assign(partitions);
        Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(Set.copyOf(partitions));
        Map<TopicPartition, Long> beginning = consumer.beginningOffsets(partitions);
        // read_committed: the last stable offset, so an open transaction of the usage consumer is not waited for.
        Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
        Map<TopicPartition, Long> next = new HashMap<>();
        for (TopicPartition partition : partitions) {
            OffsetAndMetadata offset = committed.get(partition);
            // Retention may have deleted records past the last replay's offset.
            long from = Math.max(offset == null ? 0 : offset.offset(), beginning.get(partition));
            consumer.seek(partition, from);
            next.put(partition, from);
        }

        long read = 0;
        long replayed = 0;
        Map<String, Long> passedOver = new TreeMap<>();
        while (read < limit && System.nanoTime() < deadline) {
            List<TopicPartition> open =
                    partitions.stream().filter(p -> next.get(p) < end.get(p)).toList();
            if (open.isEmpty()) {
                break;
            }
            consumer.pause(partitions.stream().filter(p -> !open.contains(p)).toList());
            ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL_TIMEOUT);
            Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
            boolean inTransaction = false;
            for (TopicPartition partition : open) {
                long stop = end.get(partition);
                boolean cut = false;
                for (ConsumerRecord<byte[], byte[]> record : records.records(partition)) {
                    if (record.offset() >= stop) {
                        break;
                    }
                    if (read == limit) {
                        // Not read: the next replay starts at it.
                        next.put(partition, record.offset());
                        cut = true;
                        break;
                    }
                    read++;
                    String cause = header(record, Topics.DLQ_CAUSE);
                    if (wanted.equals(cause)) {
                        if (!inTransaction) {
                            producer.beginTransaction();
                            inTransaction = true;
                        }
                        producer.send(usageRecord(record));
                        replayed++;
                    } else {
                        passedOver.merge(cause == null ? "none" : cause, 1L, Long::sum);
                    }
                    next.put(partition, record.offset() + 1);
                }
                if (!cut) {
                    // The position also steps over transaction markers and aborted records, which poll never returns.
                    next.put(partition, Math.min(consumer.position(partition), stop));
                }
                offsets.put(partition, new OffsetAndMetadata(next.get(partition)));
                if (cut) {
                    consumer.seek(partition, next.get(partition));
                }
            }
            if (records.isEmpty() && !inTransaction) {
                continue;
            }
            if (!inTransaction) {
                producer.beginTransaction();
            }
            producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
            producer.commitTransaction();
        }
        boolean hasMore = partitions.stream().anyMatch(p -> next.get(p) < end.get(p));
        replayedCounter.increment(replayed);
        Log.infof(
                "Replayed %d dead letters onto %s; passed over %s; more left: %s",
                replayed, Topics.USAGE, passedOver, hasMore);
        return new Result(replayed, passedOver, hasMore);
    }

    /** The record as the gateway sent it: the dead-letter headers removed, where it was replayed from added. */
    private static ProducerRecord<byte[], byte[]> usageRecord(ConsumerRecord<byte[], byte[]> deadLetter) {
        RecordHeaders headers = new RecordHeaders();
        for (Header header : deadLetter.headers()) {
            if (!header.key().startsWith(DEAD_LETTER_HEADER_PREFIX)
                    && !header.key().equals(Topics.REPLAYED_FROM)) {
                headers.add(header);
            }
        }
        String from = deadLetter.topic() + "/" + deadLetter.partition() + "/" + deadLetter.offset();
        headers.add(Topics.REPLAYED_FROM, from.getBytes(StandardCharsets.UTF_8));
        return new ProducerRecord<>(Topics.USAGE, null, deadLetter.key(), deadLetter.value(), headers);
    }

    private static String header(ConsumerRecord<byte[], byte[]> record, String name) {
        Header header = record.headers().lastHeader(name);
        return header == null ? null : new String(header.value(), StandardCharsets.UTF_8);
    }

    private Map<String, Object> consumerConfig(String cause) {
        Map<String, Object> settings = new HashMap<>(kafkaConfig);
        settings.put(ConsumerConfig.GROUP_ID_CONFIG, replayId(cause));
        settings.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        settings.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // Reads no dead letter of a batch the usage consumer has not committed, and waits for stable offsets.
        settings.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        settings.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, MAX_POLL_RECORDS);
        settings.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15_000);
        settings.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        settings.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        return settings;
    }

    private Map<String, Object> producerConfig(String cause) {
        Map<String, Object> settings = new HashMap<>(kafkaConfig);
        // One id for the replays of every replica: a second replay fences the first (see the class comment).
        settings.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, replayId(cause));
        settings.put(ProducerConfig.ACKS_CONFIG, "all");
        settings.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        settings.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15_000);
        settings.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        settings.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        return settings;
    }

    /** One cursor per cause: a replay of one cause passes over the others' records without moving their cursor. */
    private String replayId(String cause) {
        return config.groupId() + "-dlq-replay-" + cause;
    }
}
