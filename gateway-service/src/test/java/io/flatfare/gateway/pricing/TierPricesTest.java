package io.flatfare.gateway.pricing;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import io.flatfare.gateway.pricing.TierPrices.Price;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The price list as the gateway reads it. The HTTP server here stands in for metering's {@code GET /prices} (whose
 * own test is metering's RateCardAdminTest; the two meet for real in e2e-tests), serving what the test sets.
 */
class TierPricesTest {

    private static final String LIST = """
            {"object": "list", "data": [
              {"tier": "small", "version": 2, "effective_from": "2026-02-01T00:00:00Z", "price_micros": 1500,
               "currency": "USD", "created_at": "2026-01-20T00:00:00Z"},
              {"tier": "small", "version": 3, "effective_from": "2026-06-01T00:00:00Z", "price_micros": 2000,
               "currency": "USD", "created_at": "2026-01-20T00:00:00Z"},
              {"tier": "large", "version": 1, "effective_from": "2026-01-01T00:00:00Z", "price_micros": 40000,
               "currency": "USD", "created_at": "2026-01-01T00:00:00Z"}]}""";

    private final AtomicReference<String> body = new AtomicReference<>(LIST);
    private final AtomicInteger status = new AtomicInteger(200);
    private HttpServer server;
    private TierPrices prices;

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/prices", exchange -> {
            byte[] bytes = body.get().getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(status.get(), bytes.length);
            exchange.getResponseBody().write(bytes);
            exchange.close();
        });
        server.start();
        URI url = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/prices");
        prices = new TierPrices(config(Optional.of(url)), new ObjectMapper());
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    @Test
    void theTiersPriceIsTheOneInForceAtTheRequestsTime() {
        prices.refresh();

        assertThat(prices.at("small", Instant.parse("2026-01-15T00:00:00Z"))).isEmpty();
        assertThat(prices.at("small", Instant.parse("2026-02-01T00:00:00Z"))).hasValue(new Price(1_500, "USD"));
        assertThat(prices.at("small", Instant.parse("2026-05-31T23:59:59Z"))).hasValue(new Price(1_500, "USD"));
        assertThat(prices.at("small", Instant.parse("2026-06-01T00:00:00Z"))).hasValue(new Price(2_000, "USD"));
        assertThat(prices.at("large", Instant.parse("2026-03-01T00:00:00Z"))).hasValue(new Price(40_000, "USD"));
        assertThat(prices.at("medium", Instant.parse("2026-03-01T00:00:00Z"))).isEmpty();
    }

    @Test
    void aFailedOrMalformedReadKeepsTheLastList() {
        prices.refresh();
        status.set(503);
        prices.refresh();
        assertThat(prices.at("large", Instant.parse("2026-03-01T00:00:00Z"))).hasValue(new Price(40_000, "USD"));

        status.set(200);
        body.set("{\"data\": [{\"tier\": \"large\", \"price_micros\": 1.5}]}");
        prices.refresh();
        assertThat(prices.at("large", Instant.parse("2026-03-01T00:00:00Z"))).hasValue(new Price(40_000, "USD"));

        body.set(LIST.replace("40000", "41000"));
        prices.refresh();
        assertThat(prices.at("large", Instant.parse("2026-03-01T00:00:00Z"))).hasValue(new Price(41_000, "USD"));
    }

    private static PricesConfig config(Optional<URI> url) {
        return new PricesConfig() {
            @Override
            public Optional<URI> url() {
                return url;
            }

            @Override
            public Duration refreshInterval() {
                return Duration.ofSeconds(30);
            }

            @Override
            public Duration timeout() {
                return Duration.ofSeconds(5);
            }
        };
    }
}
