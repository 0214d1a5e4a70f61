package io.flatfare.gateway.api;

import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.Topics;
import io.flatfare.contracts.events.UsageEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.eclipse.microprofile.config.ConfigProvider;

/** Reads {@code flatfare.usage.v1} from the beginning, as metering would (read_committed). */
final class UsageTopic implements AutoCloseable {

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final List<ConsumerRecord<byte[], byte[]>> seen = new ArrayList<>();

    UsageTopic() {
        consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                ConfigProvider.getConfig().getValue("kafka.bootstrap.servers", String.class),
                ConsumerConfig.GROUP_ID_CONFIG,
                "test-" + UUID.randomUUID(),
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                "earliest",
                ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                "read_committed",
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
                ByteArrayDeserializer.class,
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                ByteArrayDeserializer.class));
        consumer.subscribe(List.of(Topics.USAGE));
    }

    /** Every record for the event id seen so far (polls once first). */
    List<ConsumerRecord<byte[], byte[]>> records(String eventId) {
        for (var record : consumer.poll(Duration.ofMillis(200))) {
            seen.add(record);
        }
        return seen.stream()
                .filter(r -> EventJson.fromJson(r.value(), UsageEvent.class)
                        .eventId()
                        .equals(eventId))
                .toList();
    }

    /** Every event of the account seen so far (polls once first). */
    List<UsageEvent> forAccount(String accountId) {
        records("");
        return seen.stream()
                .map(r -> EventJson.fromJson(r.value(), UsageEvent.class))
                .filter(e -> e.accountId().equals(accountId))
                .toList();
    }

    /** Waits for the event with this id, then checks for a little longer that it is the only one. */
    UsageEvent await(String eventId) {
        org.awaitility.Awaitility.await()
                .atMost(Duration.ofSeconds(30))
                .until(() -> !records(eventId).isEmpty());
        var records = records(eventId);
        if (records.size() != 1) {
            throw new AssertionError(records.size() + " usage events for " + eventId);
        }
        return EventJson.fromJson(records.get(0).value(), UsageEvent.class);
    }

    ConsumerRecord<byte[], byte[]> record(String eventId) {
        await(eventId);
        return records(eventId).get(0);
    }

    @Override
    public void close() {
        consumer.close();
    }
}
