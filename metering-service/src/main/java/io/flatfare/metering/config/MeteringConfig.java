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

    Outbox outbox();

    interface Outbox {
        /** How often the relay looks for rated usage not yet on Kafka (it also runs after every batch). */
        @WithDefault("1s")
        Duration relayInterval();

        /** Records published per relay transaction. */
        @WithDefault("500")
        int batchSize();
    }
}
