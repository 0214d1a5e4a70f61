package io.flatfare.gateway.usage;

import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Readiness;

/**
 * Ready while usage events can be journaled and the journal is under its maximum size. Kafka being away does not
 * make the gateway unready (the journal keeps the events until it is back) until the journal is full; the data shows
 * the backlog, the journal's size and whether Kafka is connected.
 */
@Readiness
@ApplicationScoped
public class UsageJournalHealthCheck implements HealthCheck {

    static final String NAME = "usage-journal";

    private final DurableUsageRecorder recorder;

    UsageJournalHealthCheck(DurableUsageRecorder recorder) {
        this.recorder = recorder;
    }

    @Override
    public HealthCheckResponse call() {
        boolean ready = recorder.journalWritable() && recorder.accepting();
        HealthCheckResponseBuilder response = HealthCheckResponse.named(NAME)
                .status(ready)
                .withData("backlog", recorder.backlog())
                .withData(
                        "oldest_unacknowledged_age_ms",
                        recorder.oldestUnacknowledgedAge().toMillis())
                .withData("journal_bytes", recorder.journalBytes())
                .withData("journal_max_bytes", recorder.maxJournalBytes())
                .withData("kafka_connected", recorder.kafkaConnected())
                .withData("journal_dir", recorder.journalDirectory().toString());
        recorder.journalError().ifPresent(error -> response.withData("error", error));
        recorder.refusal().ifPresent(refusal -> response.withData("refusing_requests", refusal));
        return response.build();
    }
}
