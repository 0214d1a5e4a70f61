package io.flatfare.metering.messaging;

import io.flatfare.metering.config.MeteringConfig;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.common.annotation.Identifier;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.interceptor.Interceptor;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/**
 * Fails start-up when Kafka does not answer within {@code flatfare.metering.startup-timeout}. Kafka clients
 * otherwise retry an unreachable bootstrap address forever, and a service with a mistyped broker address
 * would run, ready for nothing, instead of failing its rollout.
 */
@ApplicationScoped
public class KafkaStartupCheck {

    private final Map<String, Object> kafkaConfig;
    private final MeteringConfig config;

    KafkaStartupCheck(@Identifier("default-kafka-broker") Map<String, Object> kafkaConfig, MeteringConfig config) {
        this.kafkaConfig = kafkaConfig;
        this.config = config;
    }

    // Before the messaging extension (priority 1000) starts consumers and producers that would only retry.
    void check(@Observes @Priority(Interceptor.Priority.PLATFORM_BEFORE) StartupEvent event) {
        Duration timeout = config.startupTimeout();
        Map<String, Object> adminConfig = new HashMap<>(kafkaConfig);
        adminConfig.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        adminConfig.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        String bootstrap = config.connections().kafkaBootstrapServers();
        try (Admin admin = Admin.create(adminConfig)) {
            admin.describeCluster().clusterId().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            throw new IllegalStateException(
                    "Kafka at " + bootstrap + " did not answer within " + timeout
                            + "; check kafka.bootstrap.servers (FLATFARE_KAFKA_BOOTSTRAP_SERVERS)",
                    e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while checking Kafka at " + bootstrap, e);
        }
    }
}
