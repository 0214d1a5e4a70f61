package io.flatfare.gateway.usage;

import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import io.smallrye.common.annotation.Identifier;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The application's {@link UsageRecorder}: started with the application, so that a backlog left by the previous
 * run is sent at once rather than at the first request, and closed after the HTTP server has stopped, so that the
 * last requests' events are journaled and given {@link UsageConfig#shutdownTimeout()} to reach Kafka.
 */
@ApplicationScoped
class UsageRecorderProducer {

    @Produces
    @Singleton
    @Startup
    DurableUsageRecorder usageRecorder(
            UsageConfig config, @Identifier("default-kafka-broker") Map<String, Object> kafka, MeterRegistry meters) {
        try {
            return DurableUsageRecorder.start(
                    new DurableUsageRecorder.Settings(
                            Path.of(config.journalDir()),
                            config.segmentSize().asLongValue(),
                            config.deliveryTimeout(),
                            config.maxInFlight(),
                            config.maxSize().asLongValue()),
                    kafka,
                    meters);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot open the usage journal in " + config.journalDir(), e);
        }
    }

    void close(@Disposes DurableUsageRecorder recorder, UsageConfig config) {
        recorder.close(config.shutdownTimeout());
    }
}
