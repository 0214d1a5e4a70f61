package io.flatfare.testing.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.flatfare.testing.support.FreePorts;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.server.common.MetadataVersion;
import org.junit.jupiter.api.Test;

class KafkaServerTest {

    private static final String TOPIC = "flatfare.round-trip";

    @Test
    void brokerRoundTripsARecordThroughAConsumerGroupAndLeavesNothingBehind() throws Exception {
        KafkaTestResource resource = new KafkaTestResource();
        Map<String, String> config = resource.start();
        String bootstrapServers = config.get("kafka.bootstrap.servers");
        KafkaServer server = resource.server();
        Path directory = server.directory().orElseThrow();
        int port = Integer.parseInt(bootstrapServers.substring(bootstrapServers.lastIndexOf(':') + 1));
        try {
            assertThat(bootstrapServers).isEqualTo(server.bootstrapServers());
            assertThat(FreePorts.isAccepting(port)).isTrue();
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers))) {
                var features = admin.describeFeatures().featureMetadata().get().finalizedFeatures();
                assertThat(features.get("metadata.version").maxVersionLevel())
                        .as("a released metadata version, not one in development")
                        .isEqualTo(MetadataVersion.latestProduction().featureLevel());
                assertThat(features).containsKey("group.version"); // the consumer group protocol of Kafka 4
            }

            try (KafkaProducer<String, String> producer = new KafkaProducer<>(Map.of(
                    ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                    ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class,
                    ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class))) {
                producer.send(new ProducerRecord<>(TOPIC, "request-1", "hello")).get();
            }

            List<String> received = new ArrayList<>();
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Map.of(
                    ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                    bootstrapServers,
                    ConsumerConfig.GROUP_ID_CONFIG,
                    "round-trip",
                    ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                    "earliest",
                    ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
                    StringDeserializer.class,
                    ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                    StringDeserializer.class))) {
                consumer.subscribe(List.of(TOPIC));
                Instant deadline = Instant.now().plusSeconds(60);
                while (received.isEmpty() && Instant.now().isBefore(deadline)) {
                    for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                        received.add(record.key() + "=" + record.value());
                    }
                }
            }
            assertThat(received).containsExactly("request-1=hello");
        } finally {
            resource.stop();
        }

        assertThat(directory).doesNotExist();
        assertThat(FreePorts.isAccepting(port)).isFalse();
    }

    @Test
    void stoppedBrokerRefusesConnectionsAndComesBackOnTheSamePortWithItsRecords() throws Exception {
        try (KafkaServer server = KafkaServer.startBroker()) {
            String bootstrapServers = server.bootstrapServers();
            int port = Integer.parseInt(bootstrapServers.substring(bootstrapServers.lastIndexOf(':') + 1));
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(Map.of(
                    ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                    ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class,
                    ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class))) {
                producer.send(new ProducerRecord<>(TOPIC, "before", "stop")).get();

                server.stop();
                assertThat(FreePorts.isAccepting(port)).isFalse();

                server.restart();
                assertThat(server.bootstrapServers()).isEqualTo(bootstrapServers);
                assertThat(FreePorts.isAccepting(port)).isTrue();
                producer.send(new ProducerRecord<>(TOPIC, "after", "restart")).get(60, TimeUnit.SECONDS);
            }

            List<String> received = new ArrayList<>();
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Map.of(
                    ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                    bootstrapServers,
                    ConsumerConfig.GROUP_ID_CONFIG,
                    "restart",
                    ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                    "earliest",
                    ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
                    StringDeserializer.class,
                    ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                    StringDeserializer.class))) {
                consumer.subscribe(List.of(TOPIC));
                Instant deadline = Instant.now().plusSeconds(60);
                while (received.size() < 2 && Instant.now().isBefore(deadline)) {
                    for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                        received.add(record.key() + "=" + record.value());
                    }
                }
            }
            assertThat(received).containsExactly("before=stop", "after=restart");
        }
    }

    @Test
    void existingClusterCannotBeStopped() {
        try (KafkaServer server = KafkaServer.existing("kafka.example:9092")) {
            assertThatThrownBy(server::stop).isInstanceOf(UnsupportedOperationException.class);
            assertThatThrownBy(server::restart).isInstanceOf(UnsupportedOperationException.class);
        }
    }

    @Test
    void existingClusterIsHandedOutUntouched() {
        try (KafkaServer server = KafkaServer.existing("kafka.example:9092")) {
            assertThat(server.quarkusConfig())
                    .containsExactly(Map.entry("kafka.bootstrap.servers", "kafka.example:9092"));
            assertThat(server.directory()).isEmpty();
        }
    }
}
