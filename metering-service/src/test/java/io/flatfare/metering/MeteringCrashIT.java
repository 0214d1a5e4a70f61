package io.flatfare.metering;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.RatedUsage;
import io.flatfare.contracts.events.Topics;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.testing.kafka.KafkaServer;
import io.flatfare.testing.postgres.PostgresServer;
import io.flatfare.testing.services.ServiceProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The packaged service killed with SIGKILL and started again, against a real broker and database: no usage is
 * lost or counted twice, and a {@code read_committed} consumer of rated usage sees each record exactly once,
 * also when the kill falls between a batch's database commit and its Kafka commit. Stopped gracefully instead, it
 * hands its partitions over at once.
 */
class MeteringCrashIT {

    static final Instant MARCH_10 = Instant.parse("2026-03-10T12:00:00Z");
    static final String TIER = "crash-small";

    PostgresServer postgres;
    KafkaServer kafka;

    @BeforeEach
    void startServers() {
        postgres = PostgresServer.start();
        kafka = KafkaServer.start();
    }

    @AfterEach
    void stopServers() {
        kafka.close();
        postgres.close();
    }

    ServiceProcess startMetering() {
        return ServiceProcess.builder("metering-service", ServiceProcess.quarkusJar("metering-service"))
                .env("FLATFARE_METERING_DB_URL", postgres.jdbcUrl())
                .env("FLATFARE_METERING_DB_USER", postgres.username())
                .env("FLATFARE_METERING_DB_PASSWORD", postgres.password())
                .env("FLATFARE_KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrapServers())
                .env("FLATFARE_METERING_ADMIN_TOKEN", "it-admin-token")
                .env("FLATFARE_METERING_FINANCE_TOKEN", "it-finance-token")
                // Small batches: many database and Kafka commits for the kill to fall between.
                .env("FLATFARE_METERING_BATCH_SIZE", "200")
                .start()
                .awaitReady(Duration.ofSeconds(90));
    }

    static void addPrice(ServiceProcess metering) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(metering.baseUrl() + "/admin/price-tiers/" + TIER))
                .header("Authorization", "Bearer it-admin-token")
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(
                        "{\"price_micros\":1000,\"currency\":\"USD\",\"effective_from\":\"2026-01-01T00:00:00Z\"}"))
                .build();
        try (HttpClient http = HttpClient.newHttpClient()) {
            assertThat(http.send(request, HttpResponse.BodyHandlers.ofString()).statusCode())
                    .isEqualTo(201);
        }
    }

    void send(List<UsageEvent> events) {
        try (var producer = new KafkaProducer<byte[], byte[]>(Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                kafka.bootstrapServers(),
                ProducerConfig.ACKS_CONFIG,
                "all",
                ProducerConfig.LINGER_MS_CONFIG,
                5,
                ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG,
                ByteArraySerializer.class,
                ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG,
                ByteArraySerializer.class))) {
            for (UsageEvent event : events) {
                producer.send(new ProducerRecord<>(
                        Topics.USAGE, event.accountId().getBytes(StandardCharsets.UTF_8), EventJson.toJson(event)));
            }
            producer.flush();
        }
    }

    long query(String sql) throws SQLException {
        try (Connection connection = postgres.connect();
                Statement statement = connection.createStatement();
                ResultSet result = statement.executeQuery(sql)) {
            result.next();
            return result.getLong(1);
        }
    }

    /** Every rated-usage record on the topic, as a read_committed consumer sees it, once there are {@code n}. */
    List<RatedUsage> ratedUsage(int n) {
        return TestKafka.readUntil(kafka.bootstrapServers(), Topics.RATED_USAGE, r -> true, kept -> kept.size() >= n)
                .stream()
                .map(ConsumerRecord::value)
                .map(v -> EventJson.fromJson(v, RatedUsage.class))
                .toList();
    }

    static List<UsageEvent> events(int accounts, int perAccount) {
        return IntStream.range(0, accounts * perAccount)
                .mapToObj(i -> Events.completed("crash-acct-" + (i % accounts), TIER, MARCH_10.plusMillis(i)))
                .toList();
    }

    static Map<String, Long> countByEventId(List<RatedUsage> rated) {
        return rated.stream().collect(Collectors.groupingBy(RatedUsage::eventId, Collectors.counting()));
    }

    @Test
    void killedMidStreamAndRestartedLosesAndDuplicatesNothing() throws Exception {
        List<UsageEvent> events = events(50, 400);
        List<UsageEvent> stream = new ArrayList<>(events);
        // The gateway may send an event twice: the first 1,000 again, at the end.
        stream.addAll(events.subList(0, 1_000));

        ServiceProcess first = startMetering();
        addPrice(first);
        send(stream);
        await().atMost(Duration.ofSeconds(120)).until(() -> query("select count(*) from usage_ledger") >= 5_000);
        first.kill();
        assertThat(first.awaitExit(Duration.ofSeconds(30))).isNotZero();
        long atKill = query("select count(*) from usage_ledger");
        assertThat(atKill).as("killed mid-stream").isLessThan(events.size());

        try (ServiceProcess second = startMetering()) {
            await().atMost(Duration.ofSeconds(180))
                    .until(() -> query("select count(*) from usage_ledger") == events.size());
            assertThat(query("select count(distinct event_id) from usage_ledger"))
                    .isEqualTo(events.size());
            // The totals were written in the ledger's transactions: a re-delivered batch must not count twice.
            assertThat(query("select sum(requests) from account_daily_totals")).isEqualTo(events.size());
            assertThat(query("select sum(billable_requests) from account_monthly_totals"))
                    .isEqualTo(events.size());
            assertThat(query("select sum(amount_micros) from account_daily_totals"))
                    .isEqualTo(events.size() * 1_000L);

            List<RatedUsage> rated = ratedUsage(events.size());
            assertThat(rated).hasSize(events.size());
            assertThat(countByEventId(rated).keySet())
                    .isEqualTo(events.stream().map(UsageEvent::eventId).collect(Collectors.toSet()));
        } finally {
            first.close();
        }
    }

    @Test
    void stoppedGracefullyItLeavesItsGroupSoItsSuccessorReadsAtOnce() throws Exception {
        List<UsageEvent> events = events(5, 20);
        ServiceProcess first = startMetering();
        try {
            addPrice(first);
            send(events.subList(0, 50));
            await().atMost(Duration.ofSeconds(60)).until(() -> query("select count(*) from usage_ledger") == 50);
            first.terminate();
            assertThat(first.awaitExit(Duration.ofSeconds(60))).isIn(0, 143);
            // It waited for the coordinator's answer to its leaving (closed without waiting, it warned that it
            // gave up on it).
            assertThat(first.output()).contains("stopped in").doesNotContain("Close timed out");
        } finally {
            first.close();
        }
        // A member that left without a word would hold the group's partitions until its session timed out (45 s):
        // its successor's join waits for it that long.
        try (ServiceProcess second = startMetering()) {
            long sent = System.nanoTime();
            send(events.subList(50, 100));
            await().atMost(Duration.ofSeconds(120)).until(() -> query("select count(*) from usage_ledger") == 100);
            Duration waited = Duration.ofNanos(System.nanoTime() - sent);
            assertThat(waited).isLessThan(Duration.ofSeconds(20));
        }
    }

    @Test
    void killedBetweenTheDatabaseCommitAndTheKafkaCommitPublishesEachRecordOnce() throws Exception {
        // The broker refuses every rated-usage record (larger than the topic allows): each batch commits to the
        // database and then its Kafka transaction fails, over and over, until the kill.
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
            admin.createTopics(List.of(new NewTopic(Topics.RATED_USAGE, 1, (short) 1)
                            // Room for a transaction marker (under 100 bytes), none for a rated-usage record.
                            .configs(Map.of(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, "200"))))
                    .all()
                    .get(30, TimeUnit.SECONDS);
        }
        ServiceProcess first = startMetering();
        addPrice(first);
        List<UsageEvent> events = events(5, 20);
        List<UsageEvent> stream = new ArrayList<>(events);
        // Repeats of the first 10 events, at later offsets: they must never send anything.
        stream.addAll(events.subList(0, 10));
        send(stream);

        // The consumer never gets past its first batch: the database commits, the Kafka transaction fails, and the
        // batch is read again from the same offset. A first poll may have caught only part of what was sent; once a
        // re-read covers every record sent (the batch size is 200), each event is in the ledger once and nothing
        // more can be added: wait for that, so the count cannot move between reading it and the kill.
        await().atMost(Duration.ofSeconds(60)).until(() -> query("select count(*) from usage_ledger") == events.size());
        long recordedBeforeTheKill = query("select count(*) from usage_ledger");
        assertThat(ratedUsage(0))
                .as("nothing committed to Kafka before the kill")
                .isEmpty();
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
            assertThat(admin.listConsumerGroupOffsets("flatfare-metering")
                            .partitionsToOffsetAndMetadata()
                            .get(30, TimeUnit.SECONDS))
                    .as("no offset committed past a record whose rated usage is not on Kafka")
                    .isEmpty();
        }
        first.kill();
        assertThat(first.awaitExit(Duration.ofSeconds(30))).isNotZero();
        assertThat(query("select count(*) from usage_ledger")).isEqualTo(recordedBeforeTheKill);
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
            admin.incrementalAlterConfigs(Map.of(
                            new ConfigResource(ConfigResource.Type.TOPIC, Topics.RATED_USAGE),
                            List.of(new AlterConfigOp(
                                    new ConfigEntry(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, ""),
                                    AlterConfigOp.OpType.DELETE))))
                    .all()
                    .get(30, TimeUnit.SECONDS);
        }

        try (ServiceProcess second = startMetering()) {
            // One more event after them: once its rated usage is read, everything before it has been too.
            UsageEvent marker = Events.completed("crash-marker", TIER, MARCH_10);
            send(List.of(marker));
            List<RatedUsage> rated = ratedUsage(events.size() + 1);
            Map<String, Long> counts = countByEventId(rated);
            assertThat(counts).containsKey(marker.eventId());
            assertThat(counts.values()).containsOnly(1L);
            assertThat(counts.keySet())
                    .containsAll(events.stream().map(UsageEvent::eventId).collect(Collectors.toSet()));
            assertThat(rated).hasSize(events.size() + 1);
            assertThat(query("select count(*) from usage_ledger")).isEqualTo(events.size() + 1);
            assertThat(query("select sum(billable_requests) from account_monthly_totals"))
                    .isEqualTo(events.size() + 1);
        } finally {
            first.close();
        }
    }
}
