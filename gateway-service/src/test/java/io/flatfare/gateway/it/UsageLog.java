package io.flatfare.gateway.it;

import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.Topics;
import io.flatfare.contracts.events.UsageEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/** Reads the whole of {@code flatfare.usage.v1} as metering would ({@code read_committed}). */
final class UsageLog {

    private UsageLog() {}

    /**
     * Every usage event of the account written so far: the topic is read from the beginning up to its end offsets
     * as they are when this is called, so a duplicate already written cannot be missed.
     */
    static List<UsageEvent> of(String bootstrapServers, String accountId) {
        try (var consumer = new KafkaConsumer<byte[], byte[]>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrapServers,
                ConsumerConfig.GROUP_ID_CONFIG,
                "it-" + UUID.randomUUID(),
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
                false,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                "read_committed",
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
                ByteArrayDeserializer.class,
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                ByteArrayDeserializer.class))) {
            List<TopicPartition> partitions = consumer.partitionsFor(Topics.USAGE, Duration.ofSeconds(30)).stream()
                    .map(p -> new TopicPartition(p.topic(), p.partition()))
                    .toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofSeconds(30));
            List<UsageEvent> events = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
                if (System.nanoTime() - deadline > 0) {
                    throw new AssertionError("Could not read " + Topics.USAGE + " to its end within 60 s");
                }
                for (var record : consumer.poll(Duration.ofMillis(500))) {
                    UsageEvent event = EventJson.fromJson(record.value(), UsageEvent.class);
                    if (event.accountId().equals(accountId)) {
                        events.add(event);
                    }
                }
            }
            return events;
        }
    }
}
