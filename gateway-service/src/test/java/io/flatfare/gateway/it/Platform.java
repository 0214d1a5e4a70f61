package io.flatfare.gateway.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.contracts.inference.v1.InferenceServiceGrpc;
import io.flatfare.contracts.inference.v1.InfoRequest;
import io.flatfare.testing.kafka.KafkaServer;
import io.flatfare.testing.postgres.PostgresServer;
import io.flatfare.testing.redis.RedisServer;
import io.flatfare.testing.services.InferenceServer;
import io.flatfare.testing.services.RegistryServer;
import io.flatfare.testing.services.ServiceProcess;
import io.flatfare.testing.support.Dirs;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Everything a gateway needs, as real servers and processes: PostgreSQL (accounts, plans, keys), Redis (limits),
 * an in-JVM Kafka broker (usage events), a model-registry process and two inference-service processes serving the
 * tiny model. Gateways are started on demand as real processes of the packaged jar; {@link #close()} stops every
 * process and server this platform started, in reverse order.
 */
final class Platform implements AutoCloseable {

    /**
     * The tiny model once more under a catalog entry with room for long generations (the default catalog caps
     * flatfare-tiny at 512 output tokens), for streams that are still running when a process is stopped.
     */
    static final String LONG_MODEL = "flatfare-tiny-long";

    static final String ADMIN_TOKEN = "it-admin-" + UUID.randomUUID();

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();

    // Starting a process blocks its thread for seconds: not a job for the (tiny on a small machine) common pool.
    private static final ExecutorService STARTER = Executors.newVirtualThreadPerTaskExecutor();

    private final List<AutoCloseable> started = Collections.synchronizedList(new ArrayList<>());
    private PostgresServer postgres;
    private RedisServer redis;
    private KafkaServer kafka;
    private RegistryServer registry;
    private final List<InferenceServer> inference = new ArrayList<>();

    private Platform() {}

    /** Starts the servers, the registry and two inference instances; gateways come from {@link #gateway}. */
    static Platform start() {
        Platform platform = new Platform();
        try {
            platform.startServers();
            return platform;
        } catch (RuntimeException | Error e) {
            platform.close();
            throw e;
        }
    }

    private void startServers() {
        // The registry (with its own PostgreSQL) takes longest; the other servers start meanwhile.
        CompletableFuture<RegistryServer> registryStart =
                CompletableFuture.supplyAsync(() -> track(RegistryServer.start(Duration.ofSeconds(10))), STARTER);
        postgres = track(PostgresServer.start());
        redis = track(RedisServer.start());
        kafka = track(KafkaServer.startBroker());
        registry = join(registryStart);
        addLongModel();
        List<CompletableFuture<InferenceServer>> instances = new ArrayList<>();
        for (int i = 1; i <= 2; i++) {
            String id = "it-inference-" + i;
            instances.add(CompletableFuture.supplyAsync(() -> track(startInference(id)), STARTER));
        }
        RuntimeException failure = null;
        for (var instance : instances) {
            try {
                inference.add(join(instance));
            } catch (RuntimeException e) {
                failure = failure == null ? e : failure;
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private InferenceServer startInference(String id) {
        // A queue deep enough that a burst of admitted requests is never refused by the model for capacity.
        return InferenceServer.builder(registry.port(), id)
                .slots(2)
                .queue(16)
                .context(4096)
                .property(
                        "flatfare.inference.models." + LONG_MODEL + ".path",
                        InferenceServer.tinyModel().toString())
                .property("flatfare.inference.models." + LONG_MODEL + ".slots", "2")
                .property("flatfare.inference.models." + LONG_MODEL + ".context", "8192")
                .start();
    }

    private void addLongModel() {
        String body = """
                {"id": "%s", "display_name": "Tiny, long context (tests)", "aliases": [], "owned_by": "flatfare",
                 "capabilities": ["chat", "completion"], "context_length": 8192, "max_output_tokens": 8192,
                 "price_tier": "small"}""".formatted(LONG_MODEL);
        HttpResponse<String> response =
                send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + registry.port() + "/admin/models"))
                        .header("Authorization", "Bearer " + registry.adminToken())
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build());
        if (response.statusCode() != 201) {
            throw new IllegalStateException("Registry refused the test model: " + response.body());
        }
    }

    /**
     * Starts a gateway process on this platform's servers, with its own usage journal, and waits until it is ready.
     * {@code env} adds or overrides environment variables.
     */
    ServiceProcess gateway(String name, Map<String, String> env) {
        Path journal = Dirs.createTemp("flatfare-it-journal-" + name);
        started.add(() -> Dirs.delete(journal));
        Map<String, String> all = new LinkedHashMap<>();
        all.put("FLATFARE_GATEWAY_DB_URL", postgres.jdbcUrl());
        all.put("FLATFARE_GATEWAY_DB_USER", postgres.username());
        all.put("FLATFARE_GATEWAY_DB_PASSWORD", postgres.password());
        all.put("FLATFARE_REDIS_URL", redis.url());
        all.put("FLATFARE_KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrapServers());
        all.put("FLATFARE_REGISTRY_HOST", "127.0.0.1");
        all.put("FLATFARE_REGISTRY_PORT", String.valueOf(registry.port()));
        all.put("FLATFARE_GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN);
        all.put("FLATFARE_GATEWAY_USAGE_JOURNAL_DIR", journal.toString());
        all.putAll(env);
        ServiceProcess.Builder builder =
                ServiceProcess.builder("gateway-" + name, ServiceProcess.quarkusJar("gateway-service"));
        all.forEach(builder::env);
        ServiceProcess process = track(builder.start());
        process.awaitReady(Duration.ofSeconds(120));
        return process;
    }

    /** Starts several gateways at once (they share one database; Flyway's lock orders their migrations). */
    List<ServiceProcess> gateways(Map<String, String> env, String... names) {
        List<CompletableFuture<ServiceProcess>> starts = new ArrayList<>();
        for (String name : names) {
            starts.add(CompletableFuture.supplyAsync(() -> gateway(name, env), STARTER));
        }
        return starts.stream().map(Platform::join).toList();
    }

    KafkaServer kafka() {
        return kafka;
    }

    List<InferenceServer> inference() {
        return inference;
    }

    /** How many requests the instance is generating for the model right now (its own Info RPC). */
    static int busySlots(InferenceServer instance, String model) {
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

    /**
     * A new account with a key, on a new plan allowing every model with these limits (null: none), created through
     * the gateway's admin API.
     */
    static Tenant tenant(ServiceProcess gateway, Integer requestsPerMinute, Long requestsPerMonth) {
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        Map<String, Object> plan = new LinkedHashMap<>();
        plan.put("id", "it-plan-" + suffix);
        plan.put("allowed_models", List.of("*"));
        plan.put("requests_per_minute", requestsPerMinute);
        plan.put("requests_per_month", requestsPerMonth);
        admin(gateway, "/admin/plans", plan);
        JsonNode account = admin(gateway, "/admin/accounts", Map.of("name", "IT " + suffix, "plan_id", plan.get("id")));
        String accountId = account.get("id").asText();
        String key = admin(gateway, "/admin/accounts/" + accountId + "/keys", Map.of("name", "it"))
                .get("key")
                .asText();
        return new Tenant(accountId, key);
    }

    /** An account and the secret of its key. */
    record Tenant(String account, String key) {
        String bearer() {
            return "Bearer " + key;
        }
    }

    private static JsonNode admin(ServiceProcess gateway, String path, Map<String, ?> body) {
        try {
            HttpResponse<String> response = send(HttpRequest.newBuilder(URI.create(gateway.baseUrl() + path))
                    .header("Authorization", "Bearer " + ADMIN_TOKEN)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)))
                    .build());
            if (response.statusCode() != 201) {
                throw new IllegalStateException(
                        "POST " + path + " answered " + response.statusCode() + ": " + response.body());
            }
            return JSON.readTree(response.body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static HttpResponse<String> send(HttpRequest request) {
        try {
            return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static HttpClient http() {
        return HTTP;
    }

    private <T extends AutoCloseable> T track(T resource) {
        started.add(resource);
        return resource;
    }

    private static <T> T join(CompletableFuture<T> future) {
        try {
            return future.join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw e;
        }
    }

    /** Stops everything started, newest first; every resource is closed even when an earlier one fails. */
    @Override
    public void close() {
        List<AutoCloseable> all;
        synchronized (started) {
            all = new ArrayList<>(started);
            started.clear();
        }
        Collections.reverse(all);
        RuntimeException failure = null;
        for (AutoCloseable resource : all) {
            try {
                resource.close();
            } catch (Exception e) {
                if (failure == null) {
                    failure = new IllegalStateException("Could not stop the whole platform", e);
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
