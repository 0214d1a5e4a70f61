package io.flatfare.gateway.usage;

import io.quarkus.runtime.configuration.MemorySize;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/**
 * Configuration under {@code flatfare.gateway.usage}: the usage-event journal and its relay to Kafka. The broker
 * itself is configured with the {@code kafka.*} keys ({@code kafka.bootstrap.servers} and any producer setting such
 * as {@code kafka.security.protocol}); every key is listed in the module README.
 */
@ConfigMapping(prefix = "flatfare.gateway.usage")
public interface UsageConfig {

    /**
     * Directory of the journal (segments, cursor, lock), relative to the working directory unless absolute. Must
     * survive a container restart (a persistent volume in Kubernetes) and belong to one gateway process only.
     */
    @WithDefault("data/usage-journal")
    String journalDir();

    /** On shutdown, how long to wait for Kafka to acknowledge the backlog; the rest stays for the next start. */
    @WithDefault("10s")
    Duration shutdownTimeout();

    /** A journal segment is closed and a new one begun beyond this size; whole segments are deleted once sent. */
    @WithDefault("16M")
    MemorySize segmentSize();

    /**
     * The producer's {@code delivery.timeout.ms}: how long it retries a record by itself (without duplicates)
     * before the relay sends it again. At least 30s plus 20ms ({@code request.timeout.ms} plus {@code linger.ms}).
     */
    @WithDefault("2m")
    Duration deliveryTimeout();

    /**
     * Most bytes the journal may hold (events Kafka has not acknowledged, plus up to one segment of ones it has).
     * Beyond it, new {@code /v1} requests are refused with 503 {@code usage_unavailable} and readiness is DOWN until
     * Kafka takes the backlog, so that a long Kafka outage never fills the volume (on a size-limited Kubernetes
     * {@code emptyDir}, filling it evicts the pod and deletes the journal). At least twice {@code segment-size}; keep
     * it below the volume's free space.
     */
    @WithDefault("1G")
    MemorySize maxSize();

    /** Records handed to the producer and not acknowledged yet, at most. */
    @WithDefault("5000")
    int maxInFlight();
}
