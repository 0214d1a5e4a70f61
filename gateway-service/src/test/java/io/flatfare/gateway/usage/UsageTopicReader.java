package io.flatfare.gateway.usage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.EventSchemas;
import io.flatfare.contracts.events.Topics;
import io.flatfare.contracts.events.UsageEvent;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/** Reads {@link Topics#USAGE} from the beginning as metering would: {@code read_committed}. */
final class UsageTopicReader implements AutoCloseable {

    private final KafkaConsumer<String, byte[]> consumer;
    private final List<TopicPartition> partitions;
    private final List<ConsumerRecord<String, byte[]>> records = new ArrayList<>();

    UsageTopicReader(String bootstrapServers) {
        createTopic(bootstrapServers);
        consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrapServers,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                "read_committed",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
                false,
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
                StringDeserializer.class,
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                ByteArrayDeserializer.class));
        partitions = consumer.partitionsFor(Topics.USAGE, Duration.ofSeconds(30)).stream()
                .map(info -> new TopicPartition(info.topic(), info.partition()))
                .toList();
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
    }

    /** What has arrived so far, after one more poll. */
    List<ConsumerRecord<String, byte[]>> poll() {
        consumer.poll(Duration.ofMillis(200)).forEach(records::add);
        return List.copyOf(records);
    }

    /** Everything on the topic up to its current end, so that a late duplicate would be seen. */
    List<ConsumerRecord<String, byte[]>> readToEnd() {
        Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
        await().atMost(Duration.ofSeconds(60)).until(() -> {
            poll();
            return end.entrySet().stream().allMatch(e -> consumer.position(e.getKey()) >= e.getValue());
        });
        return List.copyOf(records);
    }

    /** How often each event id starting with {@code prefix} arrived. */
    static Map<String, Long> countByEventId(List<ConsumerRecord<String, byte[]>> records, String prefix) {
        return records.stream()
                .map(UsageTopicReader::eventId)
                .filter(id -> id.startsWith(prefix))
                .collect(Collectors.groupingBy(Function.identity(), Collectors.counting()));
    }

    static String eventId(ConsumerRecord<String, byte[]> record) {
        return header(record, Topics.CE_ID);
    }

    static String header(ConsumerRecord<String, byte[]> record, String name) {
        var header = record.headers().lastHeader(name);
        return header == null ? null : new String(header.value(), StandardCharsets.UTF_8);
    }

    /** The record is the one of {@code event}: key, contract-valid JSON value and CloudEvents headers. */
    static void assertIsTheRecordOf(ConsumerRecord<String, byte[]> record, UsageEvent event) {
        assertThat(record.topic()).isEqualTo(Topics.USAGE);
        assertThat(record.key()).isEqualTo(event.accountId());
        EventSchemas.Result validation = EventSchemas.validate(UsageEvent.class, record.value());
        assertThat(validation.valid()).as(validation.summary()).isTrue();
        assertThat(EventJson.fromJson(record.value(), UsageEvent.class)).isEqualTo(event);
        assertThat(header(record, Topics.CE_ID)).isEqualTo(event.eventId());
        assertThat(header(record, Topics.CE_TYPE)).isEqualTo(Topics.TYPE_USAGE);
        assertThat(header(record, Topics.CE_SOURCE)).isEqualTo(Topics.SOURCE_GATEWAY);
        assertThat(header(record, Topics.CE_TIME)).isEqualTo(event.occurredAt().toString());
        assertThat(header(record, Topics.CE_SPECVERSION)).isEqualTo(Topics.SPEC_VERSION);
        assertThat(header(record, Topics.CONTENT_TYPE)).isEqualTo(Topics.CONTENT_TYPE_JSON);
    }

    @Override
    public void close() {
        consumer.close();
    }

    private static void createTopic(String bootstrapServers) {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers))) {
            admin.createTopics(List.of(new NewTopic(Topics.USAGE, 3, (short) 1)))
                    .all()
                    .get();
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IllegalStateException("cannot create " + Topics.USAGE, e);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
