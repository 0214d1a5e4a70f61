package io.flatfare.gateway.pricing;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.net.URI;
import java.time.Duration;
import java.util.Optional;

/** Where the gateway reads the flat price list ({@code flatfare.gateway.prices.*}). */
@ConfigMapping(prefix = "flatfare.gateway.prices")
public interface PricesConfig {

    /**
     * Metering's price list, e.g. {@code http://metering:8070/prices}. Unset: requests carry their price tier
     * ({@code x-flatfare-price-tier}) but not its amount.
     */
    Optional<URI> url();

    /** How often the list is read again; a price scheduled in metering is shown from its effective time on. */
    @WithDefault("30s")
    Duration refreshInterval();

    /** Timeout of one read of the list; a failed read keeps the last list. */
    @WithDefault("5s")
    Duration timeout();
}
