package io.flatfare.gateway.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.contracts.inference.v1.InferenceServiceGrpc;
import io.flatfare.contracts.inference.v1.InfoRequest;
import io.flatfare.testing.platform.LocalPlatform;
import io.flatfare.testing.platform.LocalPlatform.Tenant;
import io.flatfare.testing.services.InferenceServer;
import io.flatfare.testing.services.ServiceProcess;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
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
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Real gateway processes (the packaged jar) on one shared platform: PostgreSQL, Redis, Kafka, a registry and two
 * inference instances. The platform is started once for the class because starting it is most of the run; the
 * tests that stop a process run last and each stops only what no later test needs (SIGTERM ends gateway B, kill -9
 * ends one inference instance), hence the explicit order.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class GatewayProcessesIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MODEL = InferenceServer.MODEL;
    /** Token 261 is the tiny model's end of sequence: with it suppressed a stream runs to max_tokens. */
    private static final Map<String, Integer> NO_END = Map.of("261", -100);

    private static final ExecutorService READERS = Executors.newVirtualThreadPerTaskExecutor();

    private static LocalPlatform platform;
    private static ServiceProcess gatewayA;
    private static ServiceProcess gatewayB;

    @BeforeAll
    static void startPlatform() {
        platform = LocalPlatform.builder().start();
        // Generous: a busy test machine must not send the shared limits to their per-replica fallback, which by
        // design admits up to N times the limit.
        List<ServiceProcess> gateways =
                platform.gateways(Map.of("FLATFARE_GATEWAY_LIMITS_REDIS_TIMEOUT", "10s"), "a", "b");
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
    void aMonthlyQuotaIsSharedExactlyByTwoGateways() {
        Tenant tenant = platform.tenant(gatewayA, null, 10L);

        List<HttpResponse<String>> answers = burst(tenant, 50);

        assertThat(statuses(answers)).containsOnlyKeys(200, 429).containsEntry(200, 10L);
        for (HttpResponse<String> refused : refused(answers)) {
            JsonNode error = json(refused.body()).get("error");
            assertThat(error.get("code").asText()).isEqualTo("insufficient_quota");
            assertThat(error.get("type").asText()).isEqualTo("insufficient_quota");
            assertThat(refused.headers().firstValue("x-should-retry")).hasValue("false");
        }
        // Both replicas refused some: the limit was enforced across them, not by one alone.
        assertThat(refused(answers).stream().map(r -> r.uri().getPort()).distinct())
                .hasSize(2);
    }

    @Test
    @Order(2)
    void aRateLimitIsSharedExactlyByTwoGateways() {
        Tenant tenant = platform.tenant(gatewayA, 10, null);

        List<HttpResponse<String>> answers = burst(tenant, 50);

        assertThat(statuses(answers)).containsOnlyKeys(200, 429).containsEntry(200, 10L);
        for (HttpResponse<String> refused : refused(answers)) {
            JsonNode error = json(refused.body()).get("error");
            assertThat(error.get("code").asText()).isEqualTo("rate_limit_exceeded");
            assertThat(error.get("type").asText()).isEqualTo("requests");
            assertThat(refused.headers().firstValue("retry-after").map(Integer::parseInt))
                    .hasValueSatisfying(seconds -> assertThat(seconds).isBetween(1, 60));
            assertThat(refused.headers().firstValue("x-ratelimit-remaining-requests"))
                    .hasValue("0");
        }
        assertThat(refused(answers).stream().map(r -> r.uri().getPort()).distinct())
                .hasSize(2);
    }

    @Test
    @Order(3)
    void requestsSucceedWhileKafkaIsAwayAndEachGetsExactlyOneEventAfterwards() {
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
            // Every event of the outage waits on disk (the first may have been acknowledged before the stop).
            assertThat(journal.get("data").get("backlog").asLong()).isGreaterThanOrEqualTo(ids.size() - 1);
            assertThat(journal.get("data").get("kafka_connected").asBoolean()).isFalse();
        } finally {
            platform.kafka().restart();
        }

        Awaitility.await()
                .atMost(Duration.ofSeconds(90))
                .until(() -> usageJournal(gatewayA).get("data").get("backlog").asLong() == 0);
        List<UsageEvent> events = UsageLog.of(platform.kafka().bootstrapServers(), tenant.account());
        assertThat(events).extracting(UsageEvent::eventId).containsExactlyInAnyOrderElementsOf(ids);
        assertThat(events).allSatisfy(e -> assertThat(e.outcome()).isEqualTo(Outcome.COMPLETED));
    }

    @Test
    @Order(4)
    void aGatewayStoppedWithSigtermFinishesItsStreamsAndDeliversTheirEvents() {
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

        List<UsageEvent> events = UsageLog.of(platform.kafka().bootstrapServers(), tenant.account());
        assertThat(events)
                .extracting(UsageEvent::eventId)
                .containsExactlyInAnyOrderElementsOf(
                        streams.stream().map(s -> s.requestId).toList());
        assertThat(events).allSatisfy(e -> {
            assertThat(e.outcome()).isEqualTo(Outcome.COMPLETED);
            assertThat(e.completionTokens()).isEqualTo(maxTokens);
        });
    }

    @Test
    @Order(5)
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
        Awaitility.await()
                .atMost(Duration.ofSeconds(30))
                .until(() -> UsageLog.of(platform.kafka().bootstrapServers(), tenant.account())
                                .size()
                        == after.size() + 1);
        Map<String, UsageEvent> events = UsageLog.of(platform.kafka().bootstrapServers(), tenant.account()).stream()
                .collect(Collectors.toMap(UsageEvent::eventId, Function.identity()));
        assertThat(events.get(stream.requestId).outcome()).isEqualTo(Outcome.FAILED);
        assertThat(events.get(stream.requestId).instanceId()).isEqualTo(victim.instanceId());
        for (String id : after) {
            assertThat(events.get(id).outcome()).isEqualTo(Outcome.COMPLETED);
            assertThat(events.get(id).instanceId()).isEqualTo(survivor.instanceId());
        }
    }

    /** How many requests the instance is generating for the model right now (its own Info RPC). */
    private static int busySlots(InferenceServer instance, String model) {
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", instance.port())
                .usePlaintext()
                .build();
        try {
            return InferenceServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(5, TimeUnit.SECONDS)
                    .info(InfoRequest.getDefaultInstance())
                    .getModelsList()
                    .stream()
                    .filter(m -> m.getModel().equals(model))
                    .mapToInt(m -> m.getSlotsBusy())
                    .sum();
        } finally {
            channel.shutdownNow();
        }
    }

    /** {@code count} short chat completions sent at once, alternating between gateways A and B. */
    private static List<HttpResponse<String>> burst(Tenant tenant, int count) {
        // Both replicas know the key before the burst (listing models uses no limit), so the burst is not spread
        // out by a first database lookup on each.
        for (ServiceProcess gateway : List.of(gatewayA, gatewayB)) {
            assertThat(LocalPlatform.send(HttpRequest.newBuilder(URI.create(gateway.baseUrl() + "/v1/models"))
                                    .header("Authorization", tenant.bearer())
                                    .build())
                            .statusCode())
                    .isEqualTo(200);
        }
        List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            ServiceProcess gateway = i % 2 == 0 ? gatewayA : gatewayB;
            answers.add(LocalPlatform.http()
                    .sendAsync(chat(gateway, tenant, MODEL, 4, false), HttpResponse.BodyHandlers.ofString()));
        }
        return answers.stream().map(CompletableFuture::join).toList();
    }

    private static Map<Integer, Long> statuses(List<HttpResponse<String>> answers) {
        return answers.stream().collect(Collectors.groupingBy(HttpResponse::statusCode, Collectors.counting()));
    }

    private static List<HttpResponse<String>> refused(List<HttpResponse<String>> answers) {
        return answers.stream().filter(r -> r.statusCode() == 429).toList();
    }

    /** One short chat completion that must succeed; returns its {@code x-request-id}, the usage event's id. */
    private static String complete(ServiceProcess gateway, Tenant tenant) {
        HttpResponse<String> answer = LocalPlatform.send(chat(gateway, tenant, MODEL, 4, false));
        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
        return answer.headers().firstValue("x-request-id").orElseThrow();
    }

    private static HttpRequest chat(
            ServiceProcess gateway, Tenant tenant, String model, int maxTokens, boolean stream) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("messages", List.of(Map.of("role", "user", "content", "Say something.")));
        body.put("max_tokens", maxTokens);
        if (stream) {
            body.put("stream", true);
            body.put("stream_options", Map.of("include_usage", true));
            body.put("logit_bias", NO_END);
        }
        try {
            return HttpRequest.newBuilder(URI.create(gateway.baseUrl() + "/v1/chat/completions"))
                    .header("Authorization", tenant.bearer())
                    .header("Content-Type", "application/json")
                    .timeout(Duration.ofSeconds(120))
                    .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)))
                    .build();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
