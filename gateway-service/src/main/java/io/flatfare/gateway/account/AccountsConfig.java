package io.flatfare.gateway.account;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/** Configuration of accounts, API keys and their admin API; every key is listed in the module README. */
@ConfigMapping(prefix = "flatfare.gateway")
public interface AccountsConfig {

    /** Bearer token for {@code /admin/*}. No default: without one the service refuses to start. */
    String adminToken();

    Auth auth();

    interface Auth {
        /**
         * How long a key lookup is trusted before the database is asked again. A change made through another
         * replica (revocation, disabled account, plan change) takes effect within this; on the replica that made
         * it, at once.
         */
        @WithDefault("5s")
        Duration cacheTtl();

        /**
         * How long an unknown, revoked or expired key is remembered as such (at most {@link #cacheTtl()}), so a
         * client retrying a bad key does not reach the database on every request.
         */
        @WithDefault("1s")
        Duration negativeCacheTtl();

        /**
         * How long the last answer read from the database for a key still stands when the database cannot be
         * reached, so that keys in use keep working through a database restart or failover (the usage events go
         * to Kafka, not to this database: nothing is lost meanwhile). A key revoked through another replica shortly
         * before the outage keeps working until the database is back or this runs out. A key without such an
         * answer gets a 503 to retry. {@code 0}: no stale answers.
         */
        @WithDefault("5m")
        Duration staleIfError();

        /**
         * How long a request waits for its key's lookup in the database before that counts as unreachable (the
         * last answer then stands in, see {@link #staleIfError()}, or the request gets a 503): a database that hangs
         * holds no request longer. A lookup takes about a millisecond.
         */
        @WithDefault("3s")
        Duration lookupTimeout();

        /** Lookups kept at most (and as many last answers for {@link #staleIfError()}); least recently used go first. */
        @WithDefault("100000")
        long cacheMaxEntries();
    }
}
