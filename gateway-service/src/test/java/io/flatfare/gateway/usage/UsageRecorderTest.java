package io.flatfare.gateway.usage;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.hasItem;

import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.gateway.routing.RegistryTestResource;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Scope;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The application's recorder: wired to Kafka, in readiness and in the metrics. */
@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
// Readiness as a whole also waits for the model catalog.
@WithTestResource(RegistryTestResource.class)
class UsageRecorderTest {

    @Inject
    UsageRecorder recorder;

    @Inject
    Tracer tracer;

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrapServers;

    private UsageTopicReader topic;

    @BeforeEach
    void openTopic() {
        topic = new UsageTopicReader(bootstrapServers);
    }

    @AfterEach
    void closeTopic() {
        topic.close();
    }

    @Test
    void anEventArrivesOnTheUsageTopicWithTheGivenTraceContext() {
        UsageEvent event = UsageEvents.event("req_" + UUID.randomUUID());
        String traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        recorder.record(event, Map.of("traceparent", traceparent));

        ConsumerRecord<String, byte[]> received = awaitRecordOf(event);
        UsageTopicReader.assertIsTheRecordOf(received, event);
        assertThat(UsageTopicReader.header(received, "traceparent")).isEqualTo(traceparent);
        await().atMost(Duration.ofSeconds(30)).until(() -> recorder.backlog() == 0);
    }

    /**
     * The end of a call runs on whichever thread relayed its last answer, where the current span may be another
     * request's: only the trace context the call captured is attached, never the thread's current one.
     */
    @Test
    void withoutTraceHeadersTheThreadsCurrentSpanIsNotAttached() {
        UsageEvent event = UsageEvents.event("req_" + UUID.randomUUID());
        Span span = tracer.spanBuilder("another request").startSpan();
        try (Scope ignored = span.makeCurrent()) {
            recorder.record(event, Map.of());
        } finally {
            span.end();
        }

        ConsumerRecord<String, byte[]> received = awaitRecordOf(event);
        UsageTopicReader.assertIsTheRecordOf(received, event);
        assertThat(received.headers().lastHeader("traceparent")).isNull();
    }

    @Test
    void readinessAndMetricsReportTheJournal() {
        recorder.record(UsageEvents.event("req_" + UUID.randomUUID()), Map.of());
        await().atMost(Duration.ofSeconds(30)).until(() -> recorder.backlog() == 0);

        given().get("/q/health/ready")
                .then()
                .statusCode(200)
                .body("checks.name", hasItem(UsageJournalHealthCheck.NAME))
                .body("checks.find { it.name == 'usage-journal' }.status", org.hamcrest.Matchers.equalTo("UP"))
                .body("checks.find { it.name == 'usage-journal' }.data.backlog", org.hamcrest.Matchers.equalTo(0))
                .body(
                        "checks.find { it.name == 'usage-journal' }.data.kafka_connected",
                        org.hamcrest.Matchers.equalTo(true));
        given().get("/q/metrics")
                .then()
                .statusCode(200)
                .body(containsString("flatfare_gateway_usage_backlog 0.0"))
                .body(containsString("flatfare_gateway_usage_sent_total"))
                .body(containsString("flatfare_gateway_usage_retried_total"));
    }

    private ConsumerRecord<String, byte[]> awaitRecordOf(UsageEvent event) {
        return await().atMost(Duration.ofSeconds(60))
                .until(
                        () -> topic.poll().stream()
                                .filter(r -> event.eventId().equals(UsageTopicReader.eventId(r)))
                                .findFirst(),
                        Optional::isPresent)
                .orElseThrow();
    }
}
