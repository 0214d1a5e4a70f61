package io.flatfare.metering.messaging;

import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready while the usage consumer runs and reaches Kafka; DOWN while the brokers cannot be reached. */
@Readiness
@ApplicationScoped
public class UsageConsumerHealth implements HealthCheck {

    private final UsageConsumer consumer;

    UsageConsumerHealth(UsageConsumer consumer) {
        this.consumer = consumer;
    }

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("Kafka usage consumer")
                .status(consumer.connected())
                .build();
    }
}
