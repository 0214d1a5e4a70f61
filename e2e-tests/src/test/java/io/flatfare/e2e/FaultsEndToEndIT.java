package io.flatfare.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.RatedUsage;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.testing.platform.LocalPlatform;
import io.flatfare.testing.platform.LocalPlatform.Tenant;
import io.flatfare.testing.services.InferenceServer;
import io.flatfare.testing.services.ServiceProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Faults, end to end, with money at the end of every one: two gateway processes, two inference processes (2 slots
 * and a queue of 2 each), the registry, metering, PostgreSQL, Redis and a Kafka broker this test stops at will. Each
 * test uses its own account and checks what reached the ledger and {@code flatfare.rated-usage.v1}. The platform is
 * started once for the class; the tests that end a process run last (SIGTERM ends gateway B, kill -9 ends one
 * inference instance), hence the explicit order.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FaultsEndToEndIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long PRICE = 1_000;
    private static final int SLOTS = 2;
    private static final int QUEUE = 2;
    private static final int INSTANCES = 2;
    /** Token 261 is the tiny model's end of sequence: with it suppressed a generation runs to max_tokens. */
    private static final Map<String, Integer> NO_END = Map.of("261", -100);

    private static final Duration ARRIVAL = Duration.ofSeconds(90);
    private static final ExecutorService READERS = Executors.newVirtualThreadPerTaskExecutor();

    private static LocalPlatform platform;
    private static Metering metering;
    private static ServiceProcess gatewayA;
    private static ServiceProcess gatewayB;

    @BeforeAll
    static void startPlatform() {
        platform = LocalPlatform.builder()
                .inferenceInstances(INSTANCES)
                .slots(SLOTS)
                .queue(QUEUE)
                .metering(PRICE)
                .start();
        metering = new Metering(
                platform.metering().orElseThrow().baseUrl(),
                platform.financeToken(),
                platform.kafka().bootstrapServers());
        List<ServiceProcess> gateways = platform.gateways(Map.of(), "a", "b");
        gatewayA = gateways.get(0);
        gatewayB = gateways.get(1);
    }

    @AfterAll
    static void stopPlatform() {
        if (platform != null) {
            platform.close();
        }
    }

    @Test
    @Order(1)
    void threeTimesTheCapacityAtOnceRefusesTheExcessAtOnceAndCompletesTheRest() {
        Tenant tenant = platform.tenant(gatewayA, null, null);
        int capacity = INSTANCES * (SLOTS + QUEUE);
        // Long enough that every request has arrived well before the first admitted one finishes.
        int maxTokens = 2000;
        assertThat(LocalPlatform.send(models(gatewayA, tenant)).statusCode()).isEqualTo(200);

        List<CompletableFuture<Timed>> calls = new ArrayList<>();
        for (int i = 0; i < 3 * capacity; i++) {
            HttpRequest request = chat(gatewayA, tenant, LocalPlatform.LONG_MODEL, maxTokens, false);
            calls.add(CompletableFuture.supplyAsync(() -> Timed.send(request), READERS));
        }
        List<Timed> answers = calls.stream().map(CompletableFuture::join).toList();
        long sent = answers.stream().mapToLong(Timed::sentAt).max().orElseThrow();
        System.out.printf(
                "capacity %d, %d sent within %d ms%n",
                capacity,
                answers.size(),
                (sent - answers.stream().mapToLong(Timed::sentAt).min().orElseThrow()) / 1_000_000);

        Map<Integer, Long> statuses =
                answers.stream().collect(Collectors.groupingBy(t -> t.response().statusCode(), Collectors.counting()));
        assertThat(statuses).as("statuses").containsOnlyKeys(200, 429);
        List<Timed> served =
                answers.stream().filter(t -> t.response().statusCode() == 200).toList();
        List<Timed> refused =
                answers.stream().filter(t -> t.response().statusCode() == 429).toList();
        assertThat(served).as("every slot and queue place was used").hasSizeGreaterThanOrEqualTo(capacity);
        assertThat(refused).as("the excess was refused").hasSizeGreaterThanOrEqualTo(capacity);
        long firstCompletion =
                served.stream().mapToLong(Timed::answeredAt).min().orElseThrow();
        for (Timed t : refused) {
            assertThat(t.answeredAt())
                    .as(
                            "a refusal came before any admitted request finished, not after waiting (%d ms after it was sent)",
                            (t.answeredAt() - t.sentAt()) / 1_000_000)
                    .isLessThan(firstCompletion);
            assertThat(t.response().headers().firstValue("retry-after")).isPresent();
            assertThat(json(t.response().body()).path("error").path("code").asText())
                    .isEqualTo("model_overloaded");
        }
        for (Timed t : served) {
            assertThat(json(t.response().body())
                            .path("usage")
                            .path("completion_tokens")
                            .asInt())
                    .isEqualTo(maxTokens);
        }

        // Only the served requests are billed; the refused ones are in the ledger at no charge.
        List<String> billed = served.stream().map(Timed::requestId).toList();
        awaitLedger(tenant, answers.size(), billed);
    }

    @Test
    @Order(2)
    void requestsFlowWhileKafkaIsAwayAndEachIsBilledExactlyOnceAfterwards() {
        Tenant tenant = platform.tenant(gatewayA, null, null);
        List<String> ids = new ArrayList<>();
        ids.add(complete(gatewayA, tenant));

        platform.kafka().stop();
        JsonNode journal;
        try {
            long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            do {
                ids.add(complete(gatewayA, tenant));
                journal = usageJournal(gatewayA);
                assertThat(journal.get("status").asText()).isEqualTo("UP");
            } while (System.nanoTime() - end < 0);
            // Every event of the outage waits on disk (the first may have been acknowledged before the stop). A
            // request's event is journaled just after its answer is written, so the last one may lag the answer.
            int outage = ids.size() - 1;
            await().atMost(Duration.ofSeconds(10))
                    .untilAsserted(() -> assertThat(usageJournal(gatewayA)
                                    .get("data")
                                    .get("backlog")
                                    .asLong())
                            .isGreaterThanOrEqualTo(outage));
            assertThat(usageJournal(gatewayA).get("data").get("kafka_connected").asBoolean())
                    .isFalse();
        } finally {
            platform.kafka().restart();
        }

        await().atMost(ARRIVAL)
                .until(() -> usageJournal(gatewayA).get("data").get("backlog").asLong() == 0);
        List<UsageEvent> events = metering.usageEvents(tenant.account());
        assertThat(events).extracting(UsageEvent::eventId).containsExactlyInAnyOrderElementsOf(ids);
        assertThat(events).allSatisfy(e -> assertThat(e.outcome()).isEqualTo(Outcome.COMPLETED));
        awaitLedger(tenant, ids.size(), ids);
    }

    @Test
    @Order(3)
    void aGatewayStoppedWithSigtermFinishesItsStreamsAndTheyAreBilled() {
        Tenant tenant = platform.tenant(gatewayB, null, null);
        // Long enough to be mid-stream at SIGTERM, short enough to finish well within the default drain timeout.
        int maxTokens = 1500;
        List<StreamCall> streams = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            streams.add(new StreamCall(gatewayB, tenant, maxTokens));
        }
        streams.forEach(s -> s.firstData.join());

        long terminated = System.nanoTime();
        gatewayB.terminate();

        for (StreamCall stream : streams) {
            List<String> data = stream.finished.orTimeout(60, TimeUnit.SECONDS).join();
            assertThat(stream.status).isEqualTo(200);
            assertThat(data).last().isEqualTo("[DONE]");
            assertThat(data).noneMatch(d -> d.contains("\"error\""));
            JsonNode usage = json(data.get(data.size() - 2)).get("usage");
            assertThat(usage.get("completion_tokens").asInt()).isEqualTo(maxTokens);
            assertThat(stream.finishedAt - terminated)
                    .as("the stream was still running when the gateway was told to stop")
                    .isPositive();
        }
        // A JVM ended by SIGTERM reports 143 (128 + 15) even after a clean shutdown; a hang killed later would be 137.
        assertThat(gatewayB.awaitExit(Duration.ofSeconds(60)))
                .as("exit code; output:\n%s", gatewayB.output())
                .isIn(0, 143);
        assertThat(gatewayB.output()).doesNotContain("Timed out waiting for graceful shutdown");

        List<String> ids = streams.stream().map(s -> s.requestId).toList();
        awaitLedger(tenant, ids.size(), ids);
        assertThat(metering.usageEvents(tenant.account())).allSatisfy(e -> {
            assertThat(e.outcome()).isEqualTo(Outcome.COMPLETED);
            assertThat(e.completionTokens()).isEqualTo(maxTokens);
        });
    }

    @Test
    @Order(4)
    void anInferenceInstanceKilledMidStreamEndsTheStreamWithAnErrorAndTheOtherServesOn() {
        Tenant tenant = platform.tenant(gatewayA, null, null);
        StreamCall stream = new StreamCall(gatewayA, tenant, 8000);
        stream.firstData.join();
        List<InferenceServer> serving = platform.inference().stream()
                .filter(i -> busySlots(i, LocalPlatform.LONG_MODEL) > 0)
                .toList();
        assertThat(serving).hasSize(1);
        InferenceServer victim = serving.get(0);
        InferenceServer survivor = platform.inference().stream()
                .filter(i -> i != victim)
                .findFirst()
                .orElseThrow();

        victim.process().kill();

        List<String> data = stream.finished.orTimeout(30, TimeUnit.SECONDS).join();
        assertThat(stream.status).isEqualTo(200);
        assertThat(data).doesNotContain("[DONE]");
        JsonNode error = json(data.get(data.size() - 1)).get("error");
        assertThat(error)
                .as("the last event is an error: %s", data.get(data.size() - 1))
                .isNotNull();
        assertThat(error.get("code").asText()).isEqualTo("upstream_failed");

        List<String> after = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            after.add(complete(gatewayA, tenant));
        }
        // The failed stream is in the ledger at no charge; the five after it are billed.
        awaitLedger(tenant, after.size() + 1, after);
        Map<String, UsageEvent> events = metering.usageEvents(tenant.account()).stream()
                .collect(Collectors.toMap(UsageEvent::eventId, Function.identity()));
        assertThat(events.get(stream.requestId).outcome()).isEqualTo(Outcome.FAILED);
        assertThat(events.get(stream.requestId).instanceId()).isEqualTo(victim.instanceId());
        for (String id : after) {
            assertThat(events.get(id).outcome()).isEqualTo(Outcome.COMPLETED);
            assertThat(events.get(id).instanceId()).isEqualTo(survivor.instanceId());
        }
    }

    /**
     * Waits until the ledger holds the account's {@code requests} for today, then checks that exactly the
     * {@code billed} ids are billed: once each in the ledger's totals and once each on the rated-usage topic.
     */
    private static void awaitLedger(Tenant tenant, int requests, List<String> billed) {
        LocalDate day = LocalDate.now(ZoneOffset.UTC);
        await().atMost(ARRIVAL)
                .untilAsserted(
                        () -> assertThat(metering.day(tenant.account(), day).requests())
                                .as("ledger requests; dead letters: %s", metering.deadLetterReasons())
                                .isEqualTo(requests));
        Metering.DayTotals totals = metering.day(tenant.account(), day);
        assertThat(totals.billableRequests()).isEqualTo(billed.size());
        assertThat(totals.amountMicros()).isEqualTo(billed.size() * PRICE);
        await().atMost(ARRIVAL)
                .until(() -> metering.ratedUsage(tenant.account()).size() >= billed.size());
        assertThat(metering.ratedUsage(tenant.account()))
                .extracting(RatedUsage::eventId)
                .containsExactlyInAnyOrderElementsOf(billed);
    }

    /** A response, when its request was sent and when it arrived (System.nanoTime). */
    private record Timed(HttpResponse<String> response, long sentAt, long answeredAt) {
        static Timed send(HttpRequest request) {
            long sentAt = System.nanoTime();
            HttpResponse<String> response = LocalPlatform.send(request);
            return new Timed(response, sentAt, System.nanoTime());
        }

        String requestId() {
            return response.headers().firstValue("x-request-id").orElseThrow();
        }
    }

    /** One short chat completion that must succeed; returns its {@code x-request-id}, the usage event's id. */
    private static String complete(ServiceProcess gateway, Tenant tenant) {
        HttpResponse<String> answer = LocalPlatform.send(chat(gateway, tenant, "flatfare-tiny", 4, false));
        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
        return answer.headers().firstValue("x-request-id").orElseThrow();
    }

    private static HttpRequest models(ServiceProcess gateway, Tenant tenant) {
        return HttpRequest.newBuilder(URI.create(gateway.baseUrl() + "/v1/models"))
                .header("Authorization", tenant.bearer())
                .build();
    }

    private static HttpRequest chat(
            ServiceProcess gateway, Tenant tenant, String model, int maxTokens, boolean stream) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("messages", List.of(Map.of("role", "user", "content", "Say something.")));
        body.put("max_tokens", maxTokens);
        body.put("logit_bias", NO_END);
        if (stream) {
            body.put("stream", true);
            body.put("stream_options", Map.of("include_usage", true));
        }
        return HttpRequest.newBuilder(URI.create(gateway.baseUrl() + "/v1/chat/completions"))
                .header("Authorization", tenant.bearer())
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(120))
                .POST(HttpRequest.BodyPublishers.ofString(Metering.write(body)))
                .build();
    }

    /** The {@code usage-journal} check of the gateway's readiness, which must be UP as a whole. */
    private static JsonNode usageJournal(ServiceProcess gateway) {
        HttpResponse<String> ready =
                LocalPlatform.send(HttpRequest.newBuilder(URI.create(gateway.baseUrl() + "/q/health/ready"))
                        .timeout(Duration.ofSeconds(10))
                        .build());
        assertThat(ready.statusCode()).as(ready.body()).isEqualTo(200);
        for (JsonNode check : json(ready.body()).get("checks")) {
            if (check.get("name").asText().equals("usage-journal")) {
                return check;
            }
        }
        throw new AssertionError("No usage-journal check in " + ready.body());
    }

    /** Requests the instance is generating for the model right now, from its Prometheus metrics. */
    private static int busySlots(InferenceServer instance, String model) {
        String metrics = LocalPlatform.send(
                        HttpRequest.newBuilder(URI.create(instance.process().baseUrl() + "/q/metrics"))
                                .timeout(Duration.ofSeconds(10))
                                .build())
                .body();
        Matcher busy = Pattern.compile("(?m)^flatfare_inference_slots_busy\\{[^}]*model=\"" + Pattern.quote(model)
                        + "\"[^}]*} ([0-9.]+)$")
                .matcher(metrics);
        assertThat(busy.find()).as("slots metric of %s in:%n%s", model, metrics).isTrue();
        return (int) Double.parseDouble(busy.group(1));
    }

    private static JsonNode json(String text) {
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A streamed chat completion of the long model, read line by line on its own thread. */
    private static final class StreamCall {
        final CompletableFuture<Void> firstData = new CompletableFuture<>();
        final CompletableFuture<List<String>> finished;
        final List<String> data = Collections.synchronizedList(new ArrayList<>());
        volatile int status;
        volatile String requestId;
        volatile long finishedAt;

        StreamCall(ServiceProcess gateway, Tenant tenant, int maxTokens) {
            HttpRequest request = chat(gateway, tenant, LocalPlatform.LONG_MODEL, maxTokens, true);
            finished = CompletableFuture.supplyAsync(() -> read(request), READERS);
            finished.whenComplete((lines, failure) -> {
                if (failure != null) {
                    firstData.completeExceptionally(failure);
                } else {
                    firstData.complete(null);
                }
            });
        }

        private List<String> read(HttpRequest request) {
            HttpResponse<Stream<String>> response;
            try {
                response = LocalPlatform.http().send(request, HttpResponse.BodyHandlers.ofLines());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            status = response.statusCode();
            requestId = response.headers().firstValue("x-request-id").orElse(null);
            try (Stream<String> lines = response.body()) {
                lines.filter(line -> line.startsWith("data: ")).forEach(line -> {
                    data.add(line.substring("data: ".length()));
                    firstData.complete(null);
                });
            }
            finishedAt = System.nanoTime();
            return List.copyOf(data);
        }
    }
}
