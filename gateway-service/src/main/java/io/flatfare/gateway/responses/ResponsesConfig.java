package io.flatfare.gateway.responses;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/**
 * Configuration under {@code flatfare.gateway.responses}: stored responses of the Responses API (listed in the module
 * README).
 */
@ConfigMapping(prefix = "flatfare.gateway.responses")
public interface ResponsesConfig {

    /**
     * Whether responses are stored (in the gateway's PostgreSQL) when a request does not say {@code "store": false},
     * as OpenAI does: they can then be retrieved, listed and deleted, and continued with {@code previous_response_id}.
     * Off: nothing is stored, every answer says {@code "store": false} and {@code previous_response_id} is a 400.
     */
    @WithDefault("true")
    boolean store();

    /** How long a stored response is kept (OpenAI keeps them 30 days); after it, it is gone for every purpose. */
    @WithDefault("30d")
    Duration retention();

    /**
     * How long one read or write of a stored response waits for the database's answer (a network timeout on its
     * connection) before it fails: an answer is then sent with {@code "store": false}, a retrieval is a 503. With the
     * pool's wait for a connection ({@code quarkus.datasource.jdbc.acquisition-timeout}, 5 s), it bounds what a
     * database that froze or went silent adds to an answer; a store takes about a millisecond.
     */
    @WithDefault("5s")
    Duration databaseTimeout();

    /** How often expired responses are deleted from the database. */
    @WithDefault("1h")
    Duration purgeInterval();
}
