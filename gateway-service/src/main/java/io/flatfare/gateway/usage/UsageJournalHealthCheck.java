package io.flatfare.gateway.usage;

import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Readiness;

/**
 * Ready while usage events can be journaled. Kafka being away does not make the gateway unready (the journal
 * keeps the events until it is back); the data shows the backlog and whether Kafka is connected.
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
        boolean writable = recorder.journalWritable();
        HealthCheckResponseBuilder response = HealthCheckResponse.named(NAME)
                .status(writable)
                .withData("backlog", recorder.backlog())
                .withData(
                        "oldest_unacknowledged_age_ms",
                        recorder.oldestUnacknowledgedAge().toMillis())
                .withData("kafka_connected", recorder.kafkaConnected())
                .withData("journal_dir", recorder.journalDirectory().toString());
        recorder.journalError().ifPresent(error -> response.withData("error", error));
        return response.build();
    }
}
