package io.flatfare.metering.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;
import java.util.Map;

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

    /** Retries of a batch whose database write failed: the first wait, doubled up to {@link #retryMaxBackoff()}. */
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

    Outbox outbox();

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

    interface Outbox {
        /** How often the relay looks for rated usage not yet on Kafka (it also runs after every batch). */
        @WithDefault("1s")
        Duration relayInterval();

        /** Records published per relay transaction (a Kafka transaction costs several round trips). */
        @WithDefault("2000")
        int batchSize();

        /**
         * The relay's Kafka transactional id, also the name of its PostgreSQL advisory lock and of the consumer
         * group whose offset metadata records its last committed batch. One per deployment: every replica
         * uses the same, so a new leader fences a stale one.
         */
        @WithDefault("flatfare-metering-rated-usage-relay")
        String transactionalId();
    }
}
