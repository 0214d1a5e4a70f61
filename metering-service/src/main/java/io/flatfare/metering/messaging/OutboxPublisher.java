package io.flatfare.metering.messaging;

import io.flatfare.contracts.events.Topics;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * One leadership term of the rated-usage relay: exactly-once publication of the outbox for
 * {@code read_committed} consumers.
 *
 * <p>The leader holds a PostgreSQL advisory lock on its own connection, and every outbox statement of the term
 * runs on that connection, so a replica that lost the lock can no longer touch the outbox. Each batch is
 * claimed (its rows marked with a batch id), published in one Kafka transaction that also commits the batch id
 * as the offset metadata of the relay's group, and then deleted. A term that starts first aborts whatever
 * transaction a previous leader left open ({@code initTransactions} with the same transactional id), then reads
 * the last committed batch id back from Kafka: that batch's rows were published and are deleted; any other
 * claimed rows were not and are released. Any failure ends the term; the next one settles it the same way.
 */
final class OutboxPublisher implements AutoCloseable {

    private static final Duration KAFKA_TIMEOUT = Duration.ofSeconds(30);

    private final Connection connection;
    private final Producer<String, String> producer;
    private final TopicPartition marker;
    private final ConsumerGroupMetadata group;
    private final int batchSize;

    private OutboxPublisher(
            Connection connection,
            Producer<String, String> producer,
            String topic,
            String transactionalId,
            int batchSize) {
        this.connection = connection;
        this.producer = producer;
        // Any partition of a topic the transaction writes to can carry the marker; partition 0 always exists.
        this.marker = new TopicPartition(topic, 0);
        this.group = new ConsumerGroupMetadata(transactionalId);
        this.batchSize = batchSize;
    }

    /**
     * Becomes the leader and settles the previous term; empty when another replica leads. {@code kafkaConfig}
     * is the application's Kafka client configuration (bootstrap servers, security).
     */
    static Optional<OutboxPublisher> lead(
            DataSource dataSource, Map<String, Object> kafkaConfig, String topic, String transactionalId, int batchSize)
            throws SQLException {
        Connection connection = dataSource.getConnection();
        Producer<String, String> producer = null;
        try {
            connection.setAutoCommit(true);
            if (!tryLock(connection, transactionalId)) {
                connection.close();
                return Optional.empty();
            }
            producer = new KafkaProducer<>(producerConfig(kafkaConfig, transactionalId));
            producer.initTransactions();
            OutboxPublisher publisher = new OutboxPublisher(connection, producer, topic, transactionalId, batchSize);
            publisher.settle(lastCommittedBatch(kafkaConfig, publisher.marker, transactionalId));
            return Optional.of(publisher);
        } catch (SQLException | RuntimeException e) {
            if (producer != null) {
                producer.close(Duration.ZERO);
            }
            connection.close();
            throw e;
        }
    }

    /** Publishes the oldest unsent rows in one Kafka transaction and deletes them; answers how many. */
    int publishBatch() throws SQLException {
        String batch = UUID.randomUUID().toString();
        List<OutboxRow> rows = claim(batch);
        if (rows.isEmpty()) {
            return 0;
        }
        producer.beginTransaction();
        rows.forEach(row -> producer.send(record(marker.topic(), row)));
        producer.sendOffsetsToTransaction(
                Map.of(marker, new OffsetAndMetadata(rows.getLast().id(), batch)), group);
        // Throws if any send failed; the transaction is then aborted and the term ends with the rows claimed.
        producer.commitTransaction();
        // A crash from here until the delete commits is settled by the next term: this batch id is the last
        // committed one, so its rows are deleted, never sent again.
        delete(batch);
        return rows.size();
    }

    int batchSize() {
        return batchSize;
    }

    /** Ends the term: closing the connection releases the lock; an open transaction is aborted by the next. */
    @Override
    public void close() {
        try {
            producer.close(Duration.ZERO);
        } finally {
            try {
                connection.close();
            } catch (SQLException e) {
                // The connection is gone already, and with it the lock.
            }
        }
    }

    private void settle(String lastCommittedBatch) throws SQLException {
        if (lastCommittedBatch != null) {
            delete(lastCommittedBatch);
        }
        try (PreparedStatement release = connection.prepareStatement(
                "update rated_usage_outbox set relay_batch = null where relay_batch is not null")) {
            release.executeUpdate();
        }
    }

    private record OutboxRow(long id, String eventId, String accountId, String payload, String ratedAt) {}

    private List<OutboxRow> claim(String batch) throws SQLException {
        try (PreparedStatement claim = connection.prepareStatement("""
                update rated_usage_outbox set relay_batch = ?
                 where id in (select id from rated_usage_outbox where relay_batch is null order by id limit ?)
                returning id, event_id, account_id, payload, created_at""")) {
            claim.setString(1, batch);
            claim.setInt(2, batchSize);
            List<OutboxRow> rows = new ArrayList<>();
            try (ResultSet result = claim.executeQuery()) {
                while (result.next()) {
                    rows.add(new OutboxRow(
                            result.getLong(1),
                            result.getString(2),
                            result.getString(3),
                            result.getString(4),
                            result.getObject(5, OffsetDateTime.class)
                                    .toInstant()
                                    .toString()));
                }
            }
            // Kafka keeps the order of sends; publishing oldest first keeps an account's records in order.
            rows.sort((a, b) -> Long.compare(a.id(), b.id()));
            return rows;
        }
    }

    private void delete(String batch) throws SQLException {
        try (PreparedStatement delete =
                connection.prepareStatement("delete from rated_usage_outbox where relay_batch = ?")) {
            delete.setString(1, batch);
            delete.executeUpdate();
        }
    }

    private static boolean tryLock(Connection connection, String name) throws SQLException {
        try (PreparedStatement lock = connection.prepareStatement("select pg_try_advisory_lock(hashtext(?))")) {
            lock.setString(1, name);
            try (ResultSet result = lock.executeQuery()) {
                result.next();
                return result.getBoolean(1);
            }
        }
    }

    private static String lastCommittedBatch(
            Map<String, Object> kafkaConfig, TopicPartition marker, String transactionalId) {
        try (Admin admin = Admin.create(kafkaConfig)) {
            OffsetAndMetadata committed = admin.listConsumerGroupOffsets(
                            transactionalId, new ListConsumerGroupOffsetsOptions().requireStable(true))
                    .partitionsToOffsetAndMetadata()
                    .get(KAFKA_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                    .get(marker);
            return committed == null ? null : committed.metadata();
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("Could not read the relay's last committed batch from Kafka", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while reading the relay's last committed batch", e);
        }
    }

    private static Map<String, Object> producerConfig(Map<String, Object> kafkaConfig, String transactionalId) {
        Map<String, Object> config = new HashMap<>(kafkaConfig);
        config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) KAFKA_TIMEOUT.toMillis());
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        return config;
    }

    private static ProducerRecord<String, String> record(String topic, OutboxRow row) {
        // The outbox row's columns hold the event id and the rating time (created_at = rated_at): no JSON parse.
        RecordHeaders headers = new RecordHeaders();
        headers.add(Topics.CE_ID, utf8(row.eventId()));
        headers.add(Topics.CE_TYPE, utf8(Topics.TYPE_RATED_USAGE));
        headers.add(Topics.CE_SOURCE, utf8(Topics.SOURCE_METERING));
        headers.add(Topics.CE_TIME, utf8(row.ratedAt()));
        headers.add(Topics.CE_SPECVERSION, utf8(Topics.SPEC_VERSION));
        headers.add(Topics.CONTENT_TYPE, utf8(Topics.CONTENT_TYPE_JSON));
        return new ProducerRecord<>(topic, null, row.accountId(), row.payload(), headers);
    }

    private static byte[] utf8(String value) {
        return value.getBytes(StandardCharsets.UTF_8);
    }
}
