package io.flatfare.gateway.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.testing.platform.LocalPlatform;
import io.flatfare.testing.platform.LocalPlatform.Tenant;
import io.flatfare.testing.services.InferenceServer;
import io.flatfare.testing.services.ServiceProcess;
import io.flatfare.testing.support.RawHttp;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two real gateway processes (the packaged jar) sharing one Redis: limits hold exactly across replicas. The platform
 * (PostgreSQL, Redis, Kafka, a registry and two inference instances) is started once for the class because starting
 * it is most of the run. The faults that stop or kill processes (Kafka away, SIGTERM drain, an inference instance
 * killed) are tested end to end, with metering, in the e2e-tests module's FaultsEndToEndIT.
 */
class GatewayProcessesIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MODEL = InferenceServer.MODEL;

    private static LocalPlatform platform;
    private static ServiceProcess gatewayA;
    private static ServiceProcess gatewayB;

    @BeforeAll
    static void startPlatform() {
        platform = LocalPlatform.builder().start();
        // Generous: a busy test machine must not send the shared limits to their per-replica fallback, which by
        // design admits up to N times the limit.
        // Gateway A logs the gateway's own categories at DEBUG, so the log test below covers those lines too (the
        // root stays at INFO, the production default: some libraries' DEBUG output, gRPC frame dumps for one, would
        // show request bytes to an operator who asks for them).
        List<ServiceProcess> gateways = platform.gateways(
                Map.of(
                        "FLATFARE_GATEWAY_LIMITS_REDIS_TIMEOUT",
                        "10s",
                        "QUARKUS_LOG_CATEGORY__IO_FLATFARE__LEVEL",
                        "DEBUG"),
                "a",
                "b");
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
    void noKeyPromptOrCompletionTextReachesTheLogs() throws IOException {
        Tenant tenant = platform.tenant(gatewayA, null, null);
        String prompt = "canary-prompt-" + UUID.randomUUID();
        String wrongKey = "sk-ff-canary" + UUID.randomUUID().toString().replace("-", "");
        // The end-of-sequence token suppressed: a 16-token completion, long enough to be unique in the log.
        Map<String, Object> body = Map.of(
                "model",
                MODEL,
                "max_tokens",
                16,
                "logit_bias",
                Map.of("261", -100),
                "messages",
                List.of(Map.of("role", "user", "content", prompt)));
        Map<String, Object> streaming = new LinkedHashMap<>(body);
        streaming.put("stream", true);
        HttpResponse<String> ok = LocalPlatform.send(request(gatewayA, tenant.bearer(), body));
        HttpResponse<String> streamed = LocalPlatform.send(request(gatewayA, tenant.bearer(), streaming));
        HttpResponse<String> unauthorized = LocalPlatform.send(request(gatewayA, "Bearer " + wrongKey, body));
        HttpResponse<String> invalid = LocalPlatform.send(request(
                gatewayA,
                tenant.bearer(),
                Map.of(
                        "model",
                        MODEL,
                        "temperature",
                        9,
                        "messages",
                        List.of(Map.of("role", "user", "content", prompt)))));
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
        assertThat(streamed.statusCode()).isEqualTo(200);
        assertThat(streamed.body()).contains("[DONE]");
        assertThat(unauthorized.statusCode()).isEqualTo(401);
        assertThat(invalid.statusCode()).isEqualTo(400);
        String completion = json(ok.body())
                .path("choices")
                .get(0)
                .path("message")
                .path("content")
                .asText();

        String log = gatewayA.output();
        assertThat(log).as("gateway A's log").contains("Installed features");
        assertThat(log).doesNotContain(tenant.key()).doesNotContain(wrongKey).doesNotContain(prompt);
        // The tiny model's text is random bytes; only a completion long enough to be unique says anything.
        if (completion.strip().length() >= 12) {
            assertThat(log).doesNotContain(completion.strip());
        }
    }

    @Test
    void browsersOfOtherOriginsGetNoCorsHeadersByDefault() {
        Tenant tenant = platform.tenant(gatewayA, null, null);
        URI models = URI.create(gatewayA.baseUrl() + "/v1/models");
        HttpResponse<String> preflight = LocalPlatform.send(HttpRequest.newBuilder(models)
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                .header("Origin", "https://elsewhere.example")
                .header("Access-Control-Request-Method", "GET")
                .build());
        HttpResponse<String> answer = LocalPlatform.send(HttpRequest.newBuilder(models)
                .header("Authorization", tenant.bearer())
                .header("Origin", "https://elsewhere.example")
                .build());

        assertThat(preflight.headers().firstValue("access-control-allow-origin"))
                .isEmpty();
        // Served as any other request: off means no CORS answer, not a refusal.
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.headers().firstValue("access-control-allow-origin")).isEmpty();
    }

    @Test
    void aMalformedUrlIsRefusedInTheEnvelopeByThePackagedGateway() throws IOException {
        // The packaged jar's main hands the URL check to the API (MalformedUrls), which no test JVM setting reaches.
        URI base = URI.create(gatewayA.baseUrl());
        for (String url : List.of("/v1/models/%ZZ", "/v1/models?after=a|b")) {
            RawHttp.Answer answer = RawHttp.get(base.getHost(), base.getPort(), url);
            assertThat(answer.status()).as(url).isEqualTo(400);
            JsonNode error = JSON.readTree(answer.body()).get("error");
            assertThat(error.get("type").asText()).as(url).isEqualTo("invalid_request_error");
            assertThat(error.get("code").asText()).as(url).isEqualTo("invalid_url");
        }
    }

    private static HttpRequest request(ServiceProcess gateway, String authorization, Map<String, Object> body)
            throws IOException {
        return HttpRequest.newBuilder(URI.create(gateway.baseUrl() + "/v1/chat/completions"))
                .header("Authorization", authorization)
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)))
                .build();
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
                    .sendAsync(chat(gateway, tenant, MODEL, 4), HttpResponse.BodyHandlers.ofString()));
        }
        return answers.stream().map(CompletableFuture::join).toList();
    }

    private static Map<Integer, Long> statuses(List<HttpResponse<String>> answers) {
        return answers.stream().collect(Collectors.groupingBy(HttpResponse::statusCode, Collectors.counting()));
    }

    private static List<HttpResponse<String>> refused(List<HttpResponse<String>> answers) {
        return answers.stream().filter(r -> r.statusCode() == 429).toList();
    }

    private static HttpRequest chat(ServiceProcess gateway, Tenant tenant, String model, int maxTokens) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("messages", List.of(Map.of("role", "user", "content", "Say something.")));
        body.put("max_tokens", maxTokens);
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

    private static JsonNode json(String text) {
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
