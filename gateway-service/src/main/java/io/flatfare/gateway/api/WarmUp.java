package io.flatfare.gateway.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.contracts.events.Endpoint;
import io.flatfare.contracts.inference.v1.ChoiceDelta;
import io.flatfare.contracts.inference.v1.ChoiceFinished;
import io.flatfare.contracts.inference.v1.FinishReason;
import io.flatfare.contracts.inference.v1.GenerateDone;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.inference.v1.Usage;
import io.flatfare.contracts.registry.v1.Capability;
import io.flatfare.gateway.account.ApiKeys;
import io.flatfare.gateway.account.Caller;
import io.flatfare.gateway.account.Plan;
import io.flatfare.gateway.api.dto.ChatCompletionRequest;
import io.flatfare.gateway.api.dto.CompletionRequest;
import io.flatfare.gateway.api.dto.EmbeddingRequest;
import io.flatfare.gateway.api.dto.ResponseRequest;
import io.flatfare.gateway.config.WarmUpConfig;
import io.flatfare.gateway.limits.RedisRequestLimiter;
import io.flatfare.gateway.routing.GrpcInferenceRouter;
import io.flatfare.gateway.routing.ModelDirectory;
import io.flatfare.gateway.routing.ResolvedModel;
import io.flatfare.gateway.service.CallLifecycle;
import io.flatfare.gateway.service.V1Call;
import io.quarkus.logging.Log;
import io.quarkus.runtime.LaunchMode;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.vertx.http.HttpServerStart;
import io.smallrye.mutiny.Multi;
import io.vertx.core.buffer.Buffer;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.event.ObservesAsync;
import jakarta.interceptor.Interceptor;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.Config;
import org.eclipse.microprofile.config.ConfigProvider;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * No cold start in the gateway either. Before it reports ready: the connections the first requests would open are
 * open (PostgreSQL, through a key lookup that finds nothing; Redis, with the limit scripts cached there; a channel on
 * every event loop to every ready inference instance, and one gRPC call to each), and the request path's own code
 * has run on made-up data: bodies read and validated, inference requests built and serialized, the answer's pipeline
 * (the one requests use, {@link Answers}) run on made-up inference events to JSON answers and SSE chunks, the usage
 * event built and serialized, the request metrics' code run on meters of its own. Nothing is admitted, billed or
 * counted: no limit is consumed, no usage event or metric recorded (the made-up calls are discarded before they run).
 * Then, once the HTTP server listens, a few passes of real requests through the gateway's own API, with a key valid
 * only meanwhile ({@link WarmUpKey}): what only a request through the API reaches runs too, and their calls record
 * nothing either ({@link io.flatfare.gateway.service.V1Call#warmUp}). Runs after the model catalog was loaded. A
 * failure is left to the requests (an unreachable Redis or instance is handled as for any request), so warm-up never
 * stops the gateway from starting.
 */
@Readiness
@ApplicationScoped
public class WarmUp implements HealthCheck {

    /** Rounds over the request path: enough for the JIT to compile what a request runs most. */
    private static final int ROUNDS = 200;

    private static final ResolvedModel MODEL = new ResolvedModel(
            "warm-up",
            List.of(),
            "flatfare",
            Instant.EPOCH,
            EnumSet.of(Capability.CHAT, Capability.COMPLETION),
            2048,
            0,
            "small",
            1);
    private static final Plan PLAN =
            new Plan("warm-up", Set.of(Plan.ALL_MODELS), Set.of(), null, null, null, null, null);
    static final Caller CALLER = new Caller("acct_warmup", "key_warmup", PLAN);
    private static final Duration FRAMES_TIMEOUT = Duration.ofSeconds(5);
    private static final String NO_SUCH_MODEL = "warm-up-no-such-model";
    /** How long the passes through the HTTP API wait for its server to listen before they are tried anyway. */
    private static final Duration LISTENING_WAIT = Duration.ofSeconds(60);

    private static final List<GenerateResponse> EVENTS = List.of(
            GenerateResponse.newBuilder()
                    .setDelta(ChoiceDelta.newBuilder().setIndex(0).setText("Hello"))
                    .setSystemFingerprint("fp_warmup")
                    .build(),
            GenerateResponse.newBuilder()
                    .setDelta(ChoiceDelta.newBuilder().setIndex(0).setText(" there"))
                    .build(),
            GenerateResponse.newBuilder()
                    .setChoiceFinished(ChoiceFinished.newBuilder().setIndex(0).setFinishReason(FinishReason.LENGTH))
                    .build(),
            GenerateResponse.newBuilder()
                    .setDone(GenerateDone.newBuilder()
                            .setUsage(Usage.newBuilder()
                                    .setPromptTokens(9)
                                    .setCompletionTokens(2)
                                    .setTotalTokens(11)))
                    .build());

    /** Made-up bodies: a chat and a completion, each not streamed and streamed (by index 0/1), and embeddings. */
    private static final byte[][] CHAT_BODIES = {chatBody(false), chatBody(true)};

    private static final byte[][] COMPLETION_BODIES = {completionBody(false), completionBody(true)};
    private static final byte[][] RESPONSES_BODIES = {responsesBody(false), responsesBody(true)};
    private static final byte[] EMBEDDING_BODY = bytes("""
            {"model":"warm-up","input":["Hello","there"],"encoding_format":"float"}""");

    private final ApiKeys keys;
    private final RedisRequestLimiter limiter;
    private final GrpcInferenceRouter router;
    private final Bodies bodies;
    private final Answers answers;
    private final CallLifecycle lifecycle;
    private final ObjectMapper json;
    private final WarmUpConfig config;
    private final ModelDirectory models;
    private final WarmUpKey key;
    private volatile boolean done;
    private volatile Map<String, Integer> httpAnswers = Map.of();
    /** Completed when the HTTP server listens. */
    private final CompletableFuture<Void> listening = new CompletableFuture<>();

    WarmUp(
            ApiKeys keys,
            RedisRequestLimiter limiter,
            GrpcInferenceRouter router,
            Bodies bodies,
            Answers answers,
            CallLifecycle lifecycle,
            ObjectMapper json,
            WarmUpConfig config,
            ModelDirectory models,
            WarmUpKey key) {
        this.keys = keys;
        this.limiter = limiter;
        this.router = router;
        this.bodies = bodies;
        this.answers = answers;
        this.lifecycle = lifecycle;
        this.json = json;
        this.config = config;
        this.models = models;
        this.key = key;
    }

    /**
     * After the catalog's first load (the directory observes start-up at the default priority). The HTTP server
     * starts listening only after the start-up observers ran: the passes through it follow once it does, on a thread
     * of their own, and readiness waits for them too.
     */
    void onStart(@Observes @Priority(Interceptor.Priority.APPLICATION + 600) StartupEvent event) {
        if (!config.enabled()) {
            done = true;
            return;
        }
        long start = System.nanoTime();
        run();
        Log.infof("Warmed up in %d ms", (System.nanoTime() - start) / 1_000_000);
        if (config.httpPasses() <= 0) {
            done = true;
            return;
        }
        listening
                .completeOnTimeout(null, LISTENING_WAIT.toMillis(), TimeUnit.MILLISECONDS)
                .thenRunAsync(
                        () -> {
                            try {
                                long passes = System.nanoTime();
                                httpAnswers = overHttp(config.httpPasses());
                                Log.infof(
                                        "Warmed up through the HTTP API in %d ms, answers: %s",
                                        (System.nanoTime() - passes) / 1_000_000, httpAnswers);
                            } finally {
                                done = true;
                            }
                        },
                        task -> Thread.ofPlatform()
                                .name("gateway-warm-up")
                                .daemon()
                                .start(task));
    }

    void onListening(@ObservesAsync HttpServerStart start) {
        listening.complete(null);
    }

    /** The answers to the passes through the HTTP API at start-up; empty until they ran, or when there were none. */
    Map<String, Integer> httpAnswers() {
        return httpAnswers;
    }

    void run() {
        try {
            keys.warmUp();
        } catch (RuntimeException e) {
            Log.warnf("Warm-up: the key lookup failed: %s", e.toString());
        }
        limiter.warmUp();
        router.warmUp(config.timeout());
        try {
            for (int i = 0; i < ROUNDS; i++) {
                requestPath();
            }
        } catch (RuntimeException e) {
            Log.warnf("Warm-up: the request path failed on made-up data: %s", e.toString());
        }
    }

    /**
     * {@code passes} passes of requests through this gateway's own HTTP API, with a key valid only meanwhile; the
     * answers counted by request and status (or failure). Never throws: a request that fails is counted as such.
     */
    Map<String, Integer> overHttp(int passes) {
        Map<String, Integer> answers = new TreeMap<>();
        if (passes <= 0) {
            return answers;
        }
        String chat = modelFor(Capability.CHAT);
        String completion = modelFor(Capability.COMPLETION);
        String embeddings = modelFor(Capability.EMBEDDINGS);
        List<HttpRequest.Builder> requests = new ArrayList<>();
        for (boolean stream : new boolean[] {false, true}) {
            requests.add(post("/v1/chat/completions", """
                    {"model":"%s","messages":[{"role":"user","content":"Hello"}],"max_tokens":1,"stream":%s}""".formatted(chat, stream)));
            requests.add(post("/v1/completions", """
                    {"model":"%s","prompt":"Hello","max_tokens":1,"stream":%s}""".formatted(completion, stream)));
            requests.add(post("/v1/responses", """
                    {"model":"%s","input":"Hello","max_output_tokens":1,"store":false,"stream":%s}""".formatted(chat, stream)));
        }
        requests.add(post("/v1/embeddings", """
                {"model":"%s","input":"Hello"}""".formatted(embeddings)));
        requests.add(HttpRequest.newBuilder(base().resolve("/v1/models")).GET());
        String secret = key.open();
        try (HttpClient client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(config.timeout())
                .build()) {
            for (int pass = 0; pass < passes; pass++) {
                for (HttpRequest.Builder request : requests) {
                    HttpRequest sent = request.copy()
                            .header("Authorization", "Bearer " + secret)
                            .timeout(config.timeout())
                            .build();
                    String outcome;
                    try {
                        outcome = Integer.toString(client.send(sent, HttpResponse.BodyHandlers.discarding())
                                .statusCode());
                    } catch (IOException | RuntimeException e) {
                        outcome = e.getClass().getSimpleName();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return answers;
                    }
                    answers.merge(sent.method() + " " + sent.uri().getPath() + " " + outcome, 1, Integer::sum);
                }
            }
        } finally {
            key.close();
        }
        return answers;
    }

    /**
     * The first model (by id) with {@code capability} and a ready instance; else the first with it (its requests then
     * get 503), else a name no model has (404). The catalog unreachable: that name too.
     */
    private String modelFor(Capability capability) {
        try {
            List<ResolvedModel> able = models.list().stream()
                    .filter(model -> model.capabilities().contains(capability))
                    .sorted(Comparator.comparing(ResolvedModel::id))
                    .toList();
            return able.stream()
                    .filter(model -> models.hasReadyInstance(model.id()))
                    .findFirst()
                    .or(() -> able.stream().findFirst())
                    .map(ResolvedModel::id)
                    .orElse(NO_SUCH_MODEL);
        } catch (RuntimeException e) {
            return NO_SUCH_MODEL;
        }
    }

    private static HttpRequest.Builder post(String path, String body) {
        return HttpRequest.newBuilder(base().resolve(path))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
    }

    /** This gateway over loopback, on the port it listens on (the test port in tests). */
    private static URI base() {
        Config quarkus = ConfigProvider.getConfig();
        String port = LaunchMode.current() == LaunchMode.TEST ? "quarkus.http.test-port" : "quarkus.http.port";
        return URI.create("http://127.0.0.1:" + quarkus.getValue(port, Integer.class));
    }

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("warm-up").status(done).build();
    }

    /** One pass over the request path with made-up requests; throws what a real request would. */
    void requestPath() {
        for (boolean stream : new boolean[] {false, true}) {
            int i = stream ? 1 : 0;
            V1Call call = call(Endpoint.CHAT_COMPLETIONS, stream);
            ChatCompletionRequest chat = bodies.read(CHAT_BODIES[i], ChatCompletionRequest.class);
            answer(
                    call,
                    GenerateRequests.chat(chat, call, PLAN, MODEL, deadline()),
                    new Completions(json, ChoiceFormat.CHAT, call, call.stream()));

            call = call(Endpoint.COMPLETIONS, stream);
            CompletionRequest completion = bodies.read(COMPLETION_BODIES[i], CompletionRequest.class);
            answer(
                    call,
                    GenerateRequests.completion(completion, call, PLAN, MODEL, deadline(), 1)
                            .getFirst(),
                    new Completions(json, ChoiceFormat.TEXT, call, call.stream()));

            call = call(Endpoint.RESPONSES, stream);
            ResponseRequest responses = bodies.read(RESPONSES_BODIES[i], ResponseRequest.class);
            answer(
                    call,
                    GenerateRequests.responses(responses, List.of(), call, PLAN, MODEL, deadline()),
                    new ResponsesAnswer(json, call, responses, null));
        }
        bodies.read(EMBEDDING_BODY, EmbeddingRequest.class);
    }

    private static byte[] responsesBody(boolean stream) {
        return bytes("""
                {"model":"warm-up","instructions":"Be brief.","input":[{"role":"user","content":
                 [{"type":"input_text","text":"Hello there"}]}],"max_output_tokens":2,"temperature":0.7,
                 "top_p":0.9,"store":false,"stream":%s}""".formatted(stream));
    }

    private static byte[] chatBody(boolean stream) {
        return bytes("""
                {"model":"warm-up","messages":[{"role":"system","content":"Be brief."},
                 {"role":"user","content":"Hello there"}],"max_tokens":2,"temperature":0.7,"top_p":0.9,
                 "seed":7,"stop":["\\n\\n"],"user":"warm-up","stream":%s,"stream_options":%s}""".formatted(stream, stream ? "{\"include_usage\":true}" : "null"));
    }

    private static byte[] completionBody(boolean stream) {
        return bytes("""
                {"model":"warm-up","prompt":"Hello there","max_tokens":2,"stream":%s}""".formatted(stream));
    }

    /** A call that records nothing when it ends (discarded before it starts). */
    private static V1Call call(Endpoint endpoint, boolean stream) {
        V1Call call = new V1Call(
                "req_" + UUID.randomUUID().toString().replace("-", ""),
                "req_warmup",
                Instant.now(),
                System.nanoTime(),
                Map.of());
        call.discard();
        call.endpoint(endpoint, stream, 1);
        call.caller(CALLER);
        call.model(MODEL, MODEL.id());
        return call;
    }

    /**
     * What follows the admission: the request as the gRPC marshaller writes it, the answer's pipeline on made-up
     * inference events (as streamed when the call is), and the end of the call (its usage event built, not recorded).
     */
    private void answer(V1Call call, GenerateRequest request, AnswerWriter out) {
        request.toByteArray();
        Multi<GenerateResponse> events = Multi.createFrom().iterable(EVENTS);
        List<Buffer> frames = (call.stream() ? answers.stream(call, out, events) : answers.collect(call, out, events))
                .collect()
                .asList()
                .await()
                .atMost(FRAMES_TIMEOUT);
        if (frames.isEmpty()) {
            throw new IllegalStateException("The made-up answer has no frame");
        }
        lifecycle.warmUp(call);
    }

    private static Instant deadline() {
        return Instant.now().plusSeconds(60);
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
