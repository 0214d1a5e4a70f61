package io.flatfare.gateway.pricing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * The flat price of each tier, from metering's price list ({@code GET /prices}), read at start-up and then every
 * {@code refresh-interval} in the background, so a request's price is known before any compute without a call on
 * its path. A failed read keeps the last list (logged once per outage); without a list, requests carry no amount.
 */
@ApplicationScoped
public class TierPrices {

    private static final Logger LOG = Logger.getLogger(TierPrices.class);

    /** A flat price per request: integer micro-units of the currency. */
    public record Price(long micros, String currency) {}

    private record Scheduled(Instant effectiveFrom, Price price) {}

    private final PricesConfig config;
    private final ObjectMapper json;
    private final HttpClient http;
    private volatile Map<String, List<Scheduled>> byTier = Map.of();
    private volatile boolean failing;
    private ScheduledExecutorService refresher;

    TierPrices(PricesConfig config, ObjectMapper json) {
        this.config = config;
        this.json = json;
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(config.timeout())
                .build();
    }

    void onStart(@Observes StartupEvent event) {
        if (config.url().isEmpty()) {
            LOG.info("flatfare.gateway.prices.url is not set: responses carry the price tier but not its amount");
            return;
        }
        refresh();
        refresher = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "price-list-refresh");
            thread.setDaemon(true);
            return thread;
        });
        long period = config.refreshInterval().toMillis();
        refresher.scheduleWithFixedDelay(this::refresh, period, period, TimeUnit.MILLISECONDS);
    }

    @PreDestroy
    void stop() {
        if (refresher != null) {
            refresher.shutdownNow();
        }
    }

    /** The tier's price in force at {@code when}, when the list has one. */
    public Optional<Price> at(String tier, Instant when) {
        List<Scheduled> prices = byTier.get(tier);
        if (prices == null) {
            return Optional.empty();
        }
        Price found = null;
        for (Scheduled scheduled : prices) {
            if (scheduled.effectiveFrom().isAfter(when)) {
                break;
            }
            found = scheduled.price();
        }
        return Optional.ofNullable(found);
    }

    /** Reads the list once; on failure the last list stays. */
    void refresh() {
        URI url = config.url().orElseThrow();
        try {
            HttpResponse<byte[]> response = http.send(
                    HttpRequest.newBuilder(url).timeout(config.timeout()).GET().build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            if (response.statusCode() != 200) {
                throw new IOException("answered " + response.statusCode());
            }
            byTier = parse(json.readTree(response.body()));
            if (failing) {
                LOG.infof("Price list read again from %s", url);
            }
            failing = false;
        } catch (IOException | RuntimeException e) {
            if (!failing) {
                LOG.warnf("Could not read the price list from %s (%s); keeping the last one", url, e.toString());
            }
            failing = true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static Map<String, List<Scheduled>> parse(JsonNode list) {
        Map<String, List<Scheduled>> tiers = new HashMap<>();
        for (JsonNode row : list.path("data")) {
            String tier = row.path("tier").asText(null);
            JsonNode micros = row.path("price_micros");
            String currency = row.path("currency").asText(null);
            String from = row.path("effective_from").asText(null);
            if (tier == null
                    || !micros.isIntegralNumber()
                    || !micros.canConvertToLong()
                    || currency == null
                    || from == null) {
                throw new IllegalArgumentException("a price list row without tier, price_micros, currency or time");
            }
            tiers.computeIfAbsent(tier, t -> new ArrayList<>())
                    .add(new Scheduled(Instant.parse(from), new Price(micros.asLong(), currency)));
        }
        tiers.values().forEach(prices -> prices.sort(Comparator.comparing(Scheduled::effectiveFrom)));
        return Map.copyOf(tiers);
    }
}
