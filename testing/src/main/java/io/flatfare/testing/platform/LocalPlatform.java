package io.flatfare.testing.platform;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.testing.kafka.KafkaServer;
import io.flatfare.testing.postgres.PostgresServer;
import io.flatfare.testing.redis.RedisServer;
import io.flatfare.testing.services.InferenceServer;
import io.flatfare.testing.services.RegistryServer;
import io.flatfare.testing.services.ServiceProcess;
import io.flatfare.testing.support.Dirs;
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
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The platform as real servers and processes, for tests that stop, kill or overload parts of it: PostgreSQL, Redis,
 * an in-JVM Kafka broker (which a test can stop and restart), a model-registry process, inference-service processes
 * serving the tiny model, and optionally metering-service with its own database. Gateways are started on demand as
 * processes of the packaged jar. {@link #close()} stops everything this platform started, newest first.
 *
 * <p>The services run from {@code <module>/target/quarkus-app}: a module using this must come after them in the
 * reactor and run its tests in the {@code integration-test} phase.
 */
public final class LocalPlatform implements AutoCloseable {

    /**
     * The tiny model once more under a catalog entry with room for long generations (the default catalog caps
     * flatfare-tiny at 512 output tokens), for streams that are still running when a process is stopped.
     */
    public static final String LONG_MODEL = "flatfare-tiny-long";

    /** The price tier of the tiny models in the registry's default catalog. */
    public static final String TIER = "small";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();

    // Starting a process blocks its thread for seconds: not a job for the (tiny on a small machine) common pool.
    private static final ExecutorService STARTER = Executors.newVirtualThreadPerTaskExecutor();

    private final Builder settings;
    private final String gatewayAdminToken = "it-admin-" + UUID.randomUUID();
    private final String meteringAdminToken = "it-metering-admin-" + UUID.randomUUID();
    private final String financeToken = "it-finance-" + UUID.randomUUID();
    private final List<AutoCloseable> started = Collections.synchronizedList(new ArrayList<>());
    private PostgresServer postgres;
    private RedisServer redis;
    private KafkaServer kafka;
    private RegistryServer registry;
    private ServiceProcess metering;
    private final List<InferenceServer> inference = new ArrayList<>();

    private LocalPlatform(Builder settings) {
        this.settings = settings;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** What to start; defaults: two inference instances of 2 slots and a queue of 16, no metering. */
    public static final class Builder {
        private int instances = 2;
        private int slots = 2;
        private int queue = 16;
        private boolean metering;
        private long priceMicros = 1_000;

        private Builder() {}

        public Builder inferenceInstances(int value) {
            instances = value;
            return this;
        }

        /** Slots of each model on each instance. */
        public Builder slots(int value) {
            slots = value;
            return this;
        }

        /** Wait queue of each model on each instance, beyond its slots. */
        public Builder queue(int value) {
            queue = value;
            return this;
        }

        /** Starts metering-service too, with a price of {@code priceMicros} USD micro-units for {@link #TIER}. */
        public Builder metering(long priceMicros) {
            this.metering = true;
            this.priceMicros = priceMicros;
            return this;
        }

        public LocalPlatform start() {
            LocalPlatform platform = new LocalPlatform(this);
            try {
                platform.startServers();
                return platform;
            } catch (RuntimeException | Error e) {
                platform.close();
                throw e;
            }
        }
    }

    private void startServers() {
        // The registry (with its own PostgreSQL) takes longest; the other servers start meanwhile.
        CompletableFuture<RegistryServer> registryStart =
                CompletableFuture.supplyAsync(() -> track(RegistryServer.start(Duration.ofSeconds(10))), STARTER);
        CompletableFuture<PostgresServer> meteringDb =
                settings.metering ? CompletableFuture.supplyAsync(() -> track(PostgresServer.start()), STARTER) : null;
        postgres = track(PostgresServer.start());
        redis = track(RedisServer.start());
        kafka = track(KafkaServer.startBroker());
        registry = join(registryStart);
        addLongModel();
        List<CompletableFuture<InferenceServer>> instances = new ArrayList<>();
        for (int i = 1; i <= settings.instances; i++) {
            String id = "it-inference-" + i;
            instances.add(CompletableFuture.supplyAsync(() -> track(startInference(id)), STARTER));
        }
        if (meteringDb != null) {
            metering = startMetering(join(meteringDb));
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
        return InferenceServer.builder(registry.port(), id)
                .slots(settings.slots)
                .queue(settings.queue)
                .context(4096)
                .property(
                        "flatfare.inference.models." + LONG_MODEL + ".path",
                        InferenceServer.tinyModel().toString())
                .property("flatfare.inference.models." + LONG_MODEL + ".slots", String.valueOf(settings.slots))
                .property("flatfare.inference.models." + LONG_MODEL + ".queue", String.valueOf(settings.queue))
                .property("flatfare.inference.models." + LONG_MODEL + ".context", "8192")
                .start();
    }

    private ServiceProcess startMetering(PostgresServer database) {
        ServiceProcess process = track(ServiceProcess.builder("metering", ServiceProcess.quarkusJar("metering-service"))
                .env("FLATFARE_METERING_DB_URL", database.jdbcUrl())
                .env("FLATFARE_METERING_DB_USER", database.username())
                .env("FLATFARE_METERING_DB_PASSWORD", database.password())
                .env("FLATFARE_KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrapServers())
                .env("FLATFARE_METERING_ADMIN_TOKEN", meteringAdminToken)
                .env("FLATFARE_METERING_FINANCE_TOKEN", financeToken)
                .startReady(Duration.ofSeconds(120)));
        post(
                process.baseUrl() + "/admin/price-tiers/" + TIER,
                meteringAdminToken,
                Map.of("price_micros", settings.priceMicros, "currency", "USD"));
        return process;
    }

    private void addLongModel() {
        post(
                "http://127.0.0.1:" + registry.port() + "/admin/models",
                registry.adminToken(),
                Map.of(
                        "id",
                        LONG_MODEL,
                        "display_name",
                        "Tiny, long context (tests)",
                        "aliases",
                        List.of(),
                        "owned_by",
                        "flatfare",
                        "capabilities",
                        List.of("chat", "completion"),
                        "context_length",
                        8192,
                        "max_output_tokens",
                        8192,
                        "price_tier",
                        TIER));
    }

    /**
     * Starts a gateway process on this platform's servers, with its own usage journal, and waits until it is ready.
     * {@code env} adds or overrides environment variables.
     */
    public ServiceProcess gateway(String name, Map<String, String> env) {
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
        all.put("FLATFARE_GATEWAY_ADMIN_TOKEN", gatewayAdminToken);
        all.put("FLATFARE_GATEWAY_USAGE_JOURNAL_DIR", journal.toString());
        if (metering != null) {
            all.put("FLATFARE_GATEWAY_PRICES_URL", metering.baseUrl() + "/prices");
        }
        all.putAll(env);
        ServiceProcess.Builder builder =
                ServiceProcess.builder("gateway-" + name, ServiceProcess.quarkusJar("gateway-service"));
        all.forEach(builder::env);
        return track(builder.startReady(Duration.ofSeconds(120)));
    }

    /** Starts several gateways at once (they share one database; Flyway's lock orders their migrations). */
    public List<ServiceProcess> gateways(Map<String, String> env, String... names) {
        List<CompletableFuture<ServiceProcess>> starts = new ArrayList<>();
        for (String name : names) {
            starts.add(CompletableFuture.supplyAsync(() -> gateway(name, env), STARTER));
        }
        return starts.stream().map(LocalPlatform::join).toList();
    }

    public KafkaServer kafka() {
        return kafka;
    }

    public List<InferenceServer> inference() {
        return inference;
    }

    /** The metering-service process, when {@link Builder#metering} asked for one. */
    public Optional<ServiceProcess> metering() {
        return Optional.ofNullable(metering);
    }

    /** The token of metering's finance API that sees every account. */
    public String financeToken() {
        return financeToken;
    }

    /**
     * A new account with a key, on a new plan allowing every model with these limits (null: none), created through
     * the gateway's admin API.
     */
    public Tenant tenant(ServiceProcess gateway, Integer requestsPerMinute, Long requestsPerMonth) {
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        Map<String, Object> plan = new LinkedHashMap<>();
        plan.put("id", "it-plan-" + suffix);
        plan.put("allowed_models", List.of("*"));
        plan.put("requests_per_minute", requestsPerMinute);
        plan.put("requests_per_month", requestsPerMonth);
        post(gateway.baseUrl() + "/admin/plans", gatewayAdminToken, plan);
        JsonNode account = post(
                gateway.baseUrl() + "/admin/accounts",
                gatewayAdminToken,
                Map.of("name", "IT " + suffix, "plan_id", plan.get("id")));
        String accountId = account.get("id").asText();
        String key = post(
                        gateway.baseUrl() + "/admin/accounts/" + accountId + "/keys",
                        gatewayAdminToken,
                        Map.of("name", "it"))
                .get("key")
                .asText();
        return new Tenant(accountId, key);
    }

    /** An account and the secret of its key. */
    public record Tenant(String account, String key) {
        public String bearer() {
            return "Bearer " + key;
        }
    }

    private static JsonNode post(String url, String token, Map<String, ?> body) {
        try {
            HttpResponse<String> response = send(HttpRequest.newBuilder(URI.create(url))
                    .header("Authorization", "Bearer " + token)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)))
                    .build());
            if (response.statusCode() != 201) {
                throw new IllegalStateException(
                        "POST " + url + " answered " + response.statusCode() + ": " + response.body());
            }
            return JSON.readTree(response.body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Sends on the platform's HTTP/1.1 client; I/O failures become unchecked. */
    public static HttpResponse<String> send(HttpRequest request) {
        try {
            return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public static HttpClient http() {
        return HTTP;
    }

    private <T extends AutoCloseable> T track(T resource) {
        started.add(resource);
        return resource;
    }

    private static <T> T join(CompletableFuture<T> future) {
        try {
            return future.join();
        } catch (CompletionException e) {
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
