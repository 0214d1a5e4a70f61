package io.flatfare.gateway.usage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.testing.kafka.KafkaServer;
import io.flatfare.testing.support.FreePorts;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The recorder against a real broker that goes away and comes back, and a journal that is reopened. */
class DurableUsageRecorderTest {

    private static final long SEGMENT_BYTES = 16 << 20;

    private static KafkaServer kafka;
    private static UsageTopicReader topic;

    @TempDir
    Path dir;

    private final List<DurableUsageRecorder> recorders = new ArrayList<>();
    private final String prefix =
            "req_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12) + "_";

    @BeforeAll
    static void startKafka() {
        kafka = KafkaServer.startBroker();
        topic = new UsageTopicReader(kafka.bootstrapServers());
    }

    @AfterAll
    static void stopKafka() {
        topic.close();
        kafka.close();
    }

    @AfterEach
    void closeRecorders() {
        recorders.forEach(r -> r.close(Duration.ZERO));
    }

    @Test
    void everyEventRecordedDuringA30SecondOutageArrivesExactlyOnce() throws Exception {
        DurableUsageRecorder recorder = start(kafka.bootstrapServers(), SEGMENT_BYTES);
        UsageJournalHealthCheck health = new UsageJournalHealthCheck(recorder);
        record(recorder, "before");
        await().atMost(Duration.ofSeconds(60)).until(() -> recorder.backlog() == 0);

        kafka.stop();
        boolean brokerBack = false;
        AtomicInteger recorded = new AtomicInteger();
        ScheduledExecutorService requests = Executors.newSingleThreadScheduledExecutor();
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> !recorder.kafkaConnected());
            // Counted once recorded (one thread records in turn), so the count never runs ahead of the journal.
            requests.scheduleAtFixedRate(
                    () -> {
                        record(recorder, "outage-" + recorded.get());
                        recorded.incrementAndGet();
                    },
                    0,
                    100,
                    TimeUnit.MILLISECONDS);
            // 300 events at 10 a second: the broker stays away for 30 s while requests go on.
            await().atMost(Duration.ofSeconds(60)).until(() -> recorded.get() >= 300);

            HealthCheckResponse during = health.call();
            assertThat(during.getStatus()).isEqualTo(HealthCheckResponse.Status.UP);
            assertThat(data(during, "kafka_connected")).isEqualTo(false);
            assertThat((Long) data(during, "backlog")).isGreaterThanOrEqualTo(300);
            assertThat((Long) data(during, "oldest_unacknowledged_age_ms")).isGreaterThan(25_000L);
            assertThat(recorder.backlog()).isGreaterThanOrEqualTo(300);

            kafka.restart();
            brokerBack = true;
            await().atMost(Duration.ofSeconds(20)).until(() -> recorded.get() >= 330);
        } finally {
            requests.shutdown();
            assertThat(requests.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
            if (!brokerBack) {
                kafka.restart(); // the class's other tests need the broker, whatever failed here
            }
        }
        int total = recorded.get() + 1;
        await().atMost(Duration.ofSeconds(120)).until(() -> recorder.backlog() == 0);

        Map<String, Long> counts = UsageTopicReader.countByEventId(topic.readToEnd(), prefix);
        assertThat(counts).hasSize(total);
        assertThat(counts.values()).containsOnly(1L);
        HealthCheckResponse after = health.call();
        assertThat(data(after, "kafka_connected")).isEqualTo(true);
        assertThat(data(after, "backlog")).isEqualTo(0L);
    }

    @Test
    void recordsCarryKeyContractJsonAndCloudEventsAndTraceHeaders() throws Exception {
        DurableUsageRecorder recorder = start(kafka.bootstrapServers(), SEGMENT_BYTES);
        UsageEvent event = UsageEvents.event(prefix + "headers");
        String traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        recorder.record(event, Map.of("traceparent", traceparent, "tracestate", "flatfare=1"));

        ConsumerRecord<String, byte[]> received = await().atMost(Duration.ofSeconds(60))
                .until(
                        () -> topic.poll().stream()
                                .filter(r -> event.eventId().equals(UsageTopicReader.eventId(r)))
                                .findFirst(),
                        found -> found.isPresent())
                .orElseThrow();
        UsageTopicReader.assertIsTheRecordOf(received, event);
        assertThat(UsageTopicReader.header(received, "traceparent")).isEqualTo(traceparent);
        assertThat(UsageTopicReader.header(received, "tracestate")).isEqualTo("flatfare=1");
    }

    @Test
    void aRecorderRestartedBeforeKafkaAcknowledgedSendsTheBacklogExactlyOnce() throws Exception {
        DurableUsageRecorder first = start(unreachableKafka(), SEGMENT_BYTES);
        for (int i = 0; i < 50; i++) {
            record(first, "restart-" + i);
        }
        assertThat(first.flush(Duration.ofSeconds(10))).isTrue();
        assertThat(first.backlog()).isEqualTo(50);
        first.close(Duration.ofMillis(200));
        assertThat(first.backlog()).isEqualTo(50);

        DurableUsageRecorder second = start(kafka.bootstrapServers(), SEGMENT_BYTES);
        assertThat(second.backlog()).isEqualTo(50);
        await().atMost(Duration.ofSeconds(60)).until(() -> second.backlog() == 0);

        Map<String, Long> counts = UsageTopicReader.countByEventId(topic.readToEnd(), prefix);
        assertThat(counts).hasSize(50);
        assertThat(counts.values()).containsOnly(1L);
    }

    @Test
    void aCleanRestartSendsNothingTwice() throws Exception {
        DurableUsageRecorder first = start(kafka.bootstrapServers(), SEGMENT_BYTES);
        for (int i = 0; i < 50; i++) {
            record(first, "first-" + i);
        }
        await().atMost(Duration.ofSeconds(60)).until(() -> first.backlog() == 0);
        first.close(Duration.ofSeconds(10));

        DurableUsageRecorder second = start(kafka.bootstrapServers(), SEGMENT_BYTES);
        assertThat(second.backlog()).isZero();
        for (int i = 0; i < 50; i++) {
            record(second, "second-" + i);
        }
        await().atMost(Duration.ofSeconds(60)).until(() -> second.backlog() == 0);

        Map<String, Long> counts = UsageTopicReader.countByEventId(topic.readToEnd(), prefix);
        assertThat(counts).hasSize(100);
        assertThat(counts.values()).containsOnly(1L);
    }

    @Test
    void aTornLastRecordIsSkippedAndEverythingBeforeAndAfterItArrives() throws Exception {
        DurableUsageRecorder first = start(unreachableKafka(), SEGMENT_BYTES);
        for (int i = 0; i < 3; i++) {
            record(first, "torn-" + i);
        }
        first.close(Duration.ZERO);
        // The process died while writing a fourth record: half a frame at the end of the segment.
        byte[] frame = new JournalRecord(
                        3, 0, "acc_1", Map.of(), EventJson.toJson(UsageEvents.event(prefix + "torn-lost")))
                .encode()
                .array();
        Files.write(lastSegment(), Arrays.copyOf(frame, frame.length / 2), StandardOpenOption.APPEND);

        DurableUsageRecorder second = start(kafka.bootstrapServers(), SEGMENT_BYTES);
        assertThat(second.backlog()).isEqualTo(3);
        record(second, "torn-after");
        await().atMost(Duration.ofSeconds(60)).until(() -> second.backlog() == 0);

        Map<String, Long> counts = UsageTopicReader.countByEventId(topic.readToEnd(), prefix);
        assertThat(counts)
                .containsOnlyKeys(prefix + "torn-0", prefix + "torn-1", prefix + "torn-2", prefix + "torn-after");
        assertThat(counts.values()).containsOnly(1L);
    }

    @Test
    void closingDeliversWhatIsPendingAndLeavesNothingToResend() throws Exception {
        DurableUsageRecorder recorder = start(kafka.bootstrapServers(), SEGMENT_BYTES);
        IntStream.range(0, 200).forEach(i -> record(recorder, "flush-" + i));
        recorder.close(Duration.ofSeconds(30));
        assertThat(recorder.backlog()).isZero();

        Map<String, Long> counts = UsageTopicReader.countByEventId(topic.readToEnd(), prefix);
        assertThat(counts).hasSize(200);
        assertThat(counts.values()).containsOnly(1L);
        DurableUsageRecorder reopened = start(unreachableKafka(), SEGMENT_BYTES);
        assertThat(reopened.backlog()).isZero();
    }

    @Test
    void aFullJournalRefusesNewRequestsUntilKafkaTakesItsBacklogAndLosesNothing() throws Exception {
        long maxBytes = 16 * 1024;
        DurableUsageRecorder recorder = start(kafka.bootstrapServers(), 4 * 1024, maxBytes);
        UsageJournalHealthCheck health = new UsageJournalHealthCheck(recorder);
        record(recorder, "full-0");
        await().atMost(Duration.ofSeconds(60)).until(() -> recorder.backlog() == 0);
        assertThat(recorder.accepting()).isTrue();
        assertThat(recorder.refusal()).isEmpty();

        int recorded = 1;
        kafka.stop();
        boolean brokerBack = false;
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> !recorder.kafkaConnected());
            while (recorder.accepting()) {
                assertThat(recorded)
                        .as("events recorded before 16 KiB were held")
                        .isLessThan(1000);
                record(recorder, "full-" + recorded++);
            }
            assertThat(recorder.journalBytes()).isGreaterThanOrEqualTo(maxBytes);
            assertThat(recorder.refusal())
                    .hasValueSatisfying(why -> assertThat(why).contains("full"));
            // The event of a request admitted before the journal filled up is still kept.
            record(recorder, "full-" + recorded++);
            assertThat(recorder.flush(Duration.ofSeconds(10))).isTrue();
            // On disk now, and nothing taken away while Kafka is gone: still refusing.
            assertThat(recorder.accepting()).isFalse();
            assertThat(recorder.backlog()).isEqualTo(recorded - 1);
            HealthCheckResponse full = health.call();
            assertThat(full.getStatus()).isEqualTo(HealthCheckResponse.Status.DOWN);
            assertThat((String) data(full, "refusing_requests")).contains("full");
            assertThat(data(full, "journal_max_bytes")).isEqualTo(maxBytes);
            assertThat((Long) data(full, "journal_bytes")).isGreaterThanOrEqualTo(maxBytes);

            kafka.restart();
            brokerBack = true;
        } finally {
            if (!brokerBack) {
                kafka.restart(); // the class's other tests need the broker, whatever failed here
            }
        }
        await().atMost(Duration.ofSeconds(120)).until(() -> recorder.backlog() == 0 && recorder.accepting());
        assertThat(recorder.journalBytes()).isLessThan(maxBytes);
        assertThat(health.call().getStatus()).isEqualTo(HealthCheckResponse.Status.UP);
        Map<String, Long> counts = UsageTopicReader.countByEventId(topic.readToEnd(), prefix);
        assertThat(counts).hasSize(recorded);
        assertThat(counts.values()).containsOnly(1L);
    }

    @Test
    void aJournalSmallerThanTwoSegmentsIsAConfigurationError() {
        assertThatThrownBy(() -> start(kafka.bootstrapServers(), 4096, 8191))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least twice its segment size");
    }

    @Test
    void aJournalThatCannotBeWrittenMakesTheGatewayUnreadyUntilItCanAndLosesNothing() throws Exception {
        // Tiny segments, so that every batch has to create a file in the directory.
        DurableUsageRecorder recorder = start(kafka.bootstrapServers(), 1);
        UsageJournalHealthCheck health = new UsageJournalHealthCheck(recorder);
        record(recorder, "disk-0");
        await().atMost(Duration.ofSeconds(60)).until(() -> recorder.backlog() == 0);
        assertThat(health.call().getStatus()).isEqualTo(HealthCheckResponse.Status.UP);

        Path moved = dir.resolveSibling(dir.getFileName() + "-moved");
        Files.move(dir, moved);
        Files.writeString(dir, "not a directory");
        record(recorder, "disk-1");
        await().atMost(Duration.ofSeconds(10))
                .until(() -> recorder.journalError().isPresent());
        HealthCheckResponse down = health.call();
        assertThat(down.getStatus()).isEqualTo(HealthCheckResponse.Status.DOWN);
        assertThat(data(down, "error")).isNotNull();
        assertThat(recorder.accepting()).isFalse();
        assertThat((String) data(down, "refusing_requests")).contains("cannot be written");
        // The event waiting to be written is the oldest not acknowledged, and it ages.
        await().atMost(Duration.ofSeconds(10))
                .until(() -> recorder.oldestUnacknowledgedAge().compareTo(Duration.ofMillis(500)) > 0);
        assertThat(recorder.backlog()).isEqualTo(1);

        Files.delete(dir);
        Files.move(moved, dir);
        await().atMost(Duration.ofSeconds(30)).until(() -> recorder.backlog() == 0);
        assertThat(health.call().getStatus()).isEqualTo(HealthCheckResponse.Status.UP);
        assertThat(recorder.accepting()).isTrue();
        Map<String, Long> counts = UsageTopicReader.countByEventId(topic.readToEnd(), prefix);
        assertThat(counts).containsOnlyKeys(prefix + "disk-0", prefix + "disk-1");
        assertThat(counts.values()).containsOnly(1L);
    }

    private DurableUsageRecorder start(String bootstrapServers, long segmentBytes) throws IOException {
        return start(bootstrapServers, segmentBytes, 1L << 30);
    }

    private DurableUsageRecorder start(String bootstrapServers, long segmentBytes, long maxBytes) throws IOException {
        DurableUsageRecorder recorder = DurableUsageRecorder.start(
                new DurableUsageRecorder.Settings(dir, segmentBytes, Duration.ofMinutes(2), 5000, maxBytes),
                Map.of("bootstrap.servers", bootstrapServers),
                new SimpleMeterRegistry());
        recorders.add(recorder);
        return recorder;
    }

    private void record(DurableUsageRecorder recorder, String name) {
        recorder.record(UsageEvents.event(prefix + name), Map.of());
    }

    private static String unreachableKafka() {
        return FreePorts.LOOPBACK.getHostAddress() + ":" + FreePorts.pick();
    }

    private static Object data(HealthCheckResponse response, String name) {
        return response.getData().orElseThrow().get(name);
    }

    private Path lastSegment() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().startsWith("segment-"))
                    .filter(p -> p.toFile().length() > 0)
                    .max(Path::compareTo)
                    .orElseThrow();
        }
    }
}
