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

    /** How often expired responses are deleted from the database. */
    @WithDefault("1h")
    Duration purgeInterval();
}
