package io.flatfare.metering.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/** Configuration under {@code flatfare.metering}; every key is listed in the module README. */
@ConfigMapping(prefix = "flatfare.metering")
public interface MeteringConfig {

    /** Bearer token for {@code /admin/*}. No default: without one the service refuses to start. */
    String adminToken();

    /** Bearer token for {@code /finance/*} that sees every account. No default: required like the admin token. */
    String financeToken();

    /**
     * Per-account bearer tokens for {@code /finance/accounts/{account-id}/*}, keyed by account id. A stopgap:
     * the gateway's API keys replace this map once that issue lands. Empty unless configured.
     */
    Map<String, String> accountTokens();

    /**
     * The one currency this deployment bills in. Totals and invoices are plain sums, so every price and plan
     * must be in it; the admin API refuses others.
     */
    @WithDefault("USD")
    String currency();

    /** The plan of an account that has never been assigned one. Need not exist: then no fee, nothing included. */
    @WithDefault("payg")
    String defaultPlan();

    /** Retries of a batch whose database write or Kafka transaction failed: the first wait, doubled up to {@link #retryMaxBackoff()}. */
    @WithDefault("100ms")
    Duration retryInitialBackoff();

    @WithDefault("5s")
    Duration retryMaxBackoff();

    /**
     * How long start-up waits for Kafka to answer before it fails; the database fails faster on its own
     * (Flyway migrates at start).
     */
    @WithDefault("30s")
    Duration startupTimeout();

    /** The usage consumer's group ({@code FLATFARE_METERING_GROUP_ID}). */
    @WithDefault("flatfare-metering")
    String groupId();

    /**
     * Records per batch ({@code FLATFARE_METERING_BATCH_SIZE}): the consumer's {@code max.poll.records}. A batch
     * is one database transaction and one Kafka transaction, so larger batches amortise both.
     */
    @WithDefault("5000")
    int batchSize();

    /**
     * The Kafka transactional id of this replica's producer ({@code FLATFARE_METERING_TRANSACTIONAL_ID}).
     * Distinct per replica and stable across its restarts: a restarted replica then aborts at once what its
     * predecessor left open, where a new id must wait for that transaction to time out. Defaults to
     * {@code flatfare-metering-} and the host name (the pod name on Kubernetes).
     */
    Optional<String> transactionalId();

    Connections connections();

    /**
     * What the service connects to, read through these keys (which application.properties points at the Quarkus
     * ones) only so that a missing one stops start-up at once with its name and variable: Quarkus alone would
     * deactivate a datasource without a URL, connect as the OS user without a username, or fail somewhere
     * inside the Kafka client.
     */
    interface Connections {
        /** {@code quarkus.datasource.jdbc.url} ({@code FLATFARE_METERING_DB_URL}). */
        String databaseUrl();

        /** {@code quarkus.datasource.username} ({@code FLATFARE_METERING_DB_USER}). */
        String databaseUser();

        /** {@code kafka.bootstrap.servers} ({@code FLATFARE_KAFKA_BOOTSTRAP_SERVERS}). */
        String kafkaBootstrapServers();
    }
}
