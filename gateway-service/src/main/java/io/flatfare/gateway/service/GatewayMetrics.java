package io.flatfare.gateway.service;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Request metrics per model and status: {@code flatfare_gateway_requests_total}, {@code
 * flatfare_gateway_request_duration_seconds}, {@code flatfare_gateway_time_to_first_token_seconds} (histograms, so
 * tail latency can be read), {@code flatfare_gateway_requests_in_flight} and {@code
 * flatfare_gateway_http_exchanges_open}. Models are tagged by canonical id only
 * (or {@code unresolved}), which keeps the tag set bounded by the catalog.
 */
@ApplicationScoped
public class GatewayMetrics {

    static final String UNRESOLVED = "unresolved";

    private final MeterRegistry registry;
    private final Map<String, AtomicInteger> inFlight = new ConcurrentHashMap<>();
    private final List<Gauge> gauges = new CopyOnWriteArrayList<>();
    private final AtomicInteger exchangesOpen = new AtomicInteger();

    public GatewayMetrics(MeterRegistry registry) {
        this.registry = registry;
        gauges.add(Gauge.builder("flatfare.gateway.http.exchanges.open", exchangesOpen, AtomicInteger::get)
                .description("/v1 HTTP exchanges the server has not released yet; a graceful shutdown waits for them")
                .register(registry));
    }

    /** A {@code /v1} exchange began; {@link #exchangeReleased} when the HTTP server is done with it. */
    public void exchangeOpened() {
        exchangesOpen.incrementAndGet();
    }

    public void exchangeReleased() {
        exchangesOpen.decrementAndGet();
    }

    public void started(String model) {
        inFlight(model).incrementAndGet();
    }

    public void ended(String model) {
        inFlight(model).decrementAndGet();
    }

    public void finished(String endpoint, String model, int status, String outcome, long durationNanos, Long ttftMs) {
        String modelTag = model == null ? UNRESOLVED : model;
        String statusTag = Integer.toString(status);
        Counter.builder("flatfare.gateway.requests")
                .description("Requests to the /v1 API by endpoint, model, status and outcome")
                .tags("endpoint", endpoint, "model", modelTag, "status", statusTag, "outcome", outcome)
                .register(registry)
                .increment();
        Timer.builder("flatfare.gateway.request.duration")
                .description("Time from receipt of a /v1 request to its end")
                .tags("endpoint", endpoint, "model", modelTag, "status", statusTag)
                .publishPercentileHistogram()
                .register(registry)
                .record(durationNanos, TimeUnit.NANOSECONDS);
        if (ttftMs != null) {
            Timer.builder("flatfare.gateway.time.to.first.token")
                    .description("Time from receipt of a /v1 request to its first output")
                    .tags("endpoint", endpoint, "model", modelTag)
                    .publishPercentileHistogram()
                    .register(registry)
                    .record(ttftMs, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Runs {@link #finished}'s code on a model tag of its own, then removes the meters it made: the first request's
     * meters are then made by code that has run, and no series is left behind.
     */
    void warmUp() {
        String model = "warm-up-" + UUID.randomUUID();
        finished("warm-up", model, 200, "completed", 1_000_000, 1L);
        registry.getMeters().stream()
                .filter(meter -> model.equals(meter.getId().getTag("model")))
                .toList()
                .forEach(registry::remove);
    }

    private AtomicInteger inFlight(String model) {
        return inFlight.computeIfAbsent(model, m -> {
            AtomicInteger value = new AtomicInteger();
            gauges.add(Gauge.builder("flatfare.gateway.requests.in.flight", value, AtomicInteger::get)
                    .description("Requests of a model in inference right now")
                    .tags("model", m)
                    .register(registry));
            return value;
        });
    }

    /** Gauges hold their values weakly and outlive this bean in a shared registry: take them out with it. */
    @PreDestroy
    void removeGauges() {
        gauges.forEach(registry::remove);
    }
}
