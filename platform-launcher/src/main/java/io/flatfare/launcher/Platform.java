package io.flatfare.launcher;

import com.fasterxml.jackson.databind.JsonNode;
import io.flatfare.contracts.events.Topics;
import io.flatfare.testing.kafka.KafkaServer;
import io.flatfare.testing.postgres.PostgresServer;
import io.flatfare.testing.redis.RedisServer;
import io.flatfare.testing.services.InferenceServer;
import io.flatfare.testing.services.ServiceProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;

/**
 * Starts the platform on this machine in dependency order, each part recorded in {@link Parts} as soon as it runs so
 * that a stop at any moment finds it: PostgreSQL (one database per service), Kafka with the topics, Redis, the model
 * registry, then inference, metering and the gateway together; then the demo plan, account and key.
 */
final class Platform {

    static final String TINY = InferenceServer.MODEL;
    static final String TINY_EMBED = InferenceServer.EMBED_MODEL;
    static final String DEMO_PLAN = "local-demo";
    static final String DEMO_ACCOUNT = "acct_local_demo";

    /** The tier the launcher's models are in; metering needs a price for it to rate their usage. */
    private static final String TIER = "small";

    private static final long DEMO_PRICE_MICROS = 1_000;
    /** The context a {@code --model} gets in a catalog entry the launcher creates for it. */
    private static final int EXTRA_MODEL_CONTEXT = 4096;

    private static final Duration READY_TIMEOUT = Duration.ofMinutes(4);
    private static final Map<String, Integer> TOPICS =
            Map.of(Topics.USAGE, 3, Topics.USAGE_DLQ, 1, Topics.RATED_USAGE, 3);

    private final UpOptions options;
    private final Path data;
    private final Path root;
    private final Parts parts;
    private final Properties tokens;
    private final Map<String, Long> pids = new LinkedHashMap<>();

    Platform(UpOptions options, Path root, Parts parts) {
        this.options = options;
        this.data = options.dataDir();
        this.root = root;
        this.parts = parts;
        this.tokens = StateFiles.tokens(data.resolve("tokens.properties"));
    }

    /** What a client needs, once everything is ready. */
    record Access(String baseUrl, String apiKey, List<String> extraModels) {}

    Access start() {
        PostgresServer postgres = startPostgres();
        String kafka = startKafka();
        String redis = startRedis();

        Path tiny = InferenceServer.tinyModel(data.resolve("models"));
        ServiceProcess registry = service("model-registry")
                .port(options.port("registry-port"))
                .env("FLATFARE_REGISTRY_DB_URL", jdbcUrl("flatfare_registry"))
                .env("FLATFARE_REGISTRY_DB_USER", postgres.username())
                .env("FLATFARE_REGISTRY_DB_PASSWORD", postgres.password())
                .env("FLATFARE_REGISTRY_ADMIN_TOKEN", tokens.getProperty("registry.admin-token"))
                .start();
        parts.add(new Parts.Service("model-registry", registry));
        awaitReady("model-registry", registry);
        Map<String, Integer> contexts = catalog(registry);
        List<String> extraModels =
                options.models().stream().map(UpOptions.Model::id).toList();

        ServiceProcess inference = startInference(tiny, contexts);
        ServiceProcess metering = service("metering-service")
                .port(options.port("metering-port"))
                .env("FLATFARE_METERING_DB_URL", jdbcUrl("flatfare_metering"))
                .env("FLATFARE_METERING_DB_USER", postgres.username())
                .env("FLATFARE_METERING_DB_PASSWORD", postgres.password())
                .env("FLATFARE_KAFKA_BOOTSTRAP_SERVERS", kafka)
                .env("FLATFARE_METERING_ADMIN_TOKEN", tokens.getProperty("metering.admin-token"))
                .env("FLATFARE_METERING_FINANCE_TOKEN", tokens.getProperty("metering.finance-token"))
                .start();
        parts.add(new Parts.Service("metering-service", metering));
        // The gateway reads metering's price list at start-up: metering and the demo price come first.
        awaitReady("metering-service", metering);
        seedPrice(metering);
        ServiceProcess gateway = service("gateway-service")
                .port(options.port("port"))
                .env("FLATFARE_GATEWAY_DB_URL", jdbcUrl("flatfare_gateway"))
                .env("FLATFARE_GATEWAY_DB_USER", postgres.username())
                .env("FLATFARE_GATEWAY_DB_PASSWORD", postgres.password())
                .env("FLATFARE_REDIS_URL", redis)
                .env("FLATFARE_GATEWAY_LIMITS_ON_REDIS_UNAVAILABLE", "local")
                .env("FLATFARE_KAFKA_BOOTSTRAP_SERVERS", kafka)
                .env("FLATFARE_REGISTRY_HOST", "127.0.0.1")
                .env("FLATFARE_REGISTRY_PORT", String.valueOf(registry.port()))
                .env("FLATFARE_GATEWAY_ADMIN_TOKEN", tokens.getProperty("gateway.admin-token"))
                .env(
                        "FLATFARE_GATEWAY_USAGE_JOURNAL_DIR",
                        data.resolve("gateway").resolve("usage-journal").toString())
                .env("FLATFARE_GATEWAY_USAGE_SHUTDOWN_TIMEOUT", "5s")
                .env("FLATFARE_GATEWAY_PRICES_URL", metering.baseUrl() + "/prices")
                .start();
        parts.add(new Parts.Service("gateway-service", gateway));
        awaitReady("inference-service", inference);
        awaitReady("gateway-service", gateway);
        writePids();

        String key = demoKey(gateway);
        awaitRoutable(gateway, key, List.copyOf(contexts.keySet()));
        return new Access(gateway.baseUrl() + "/v1", key, extraModels);
    }

    private PostgresServer startPostgres() {
        Progress.say("starting PostgreSQL on port " + options.port("postgres-port") + " (data in "
                + data.resolve("postgres") + ")");
        PostgresServer postgres =
                PostgresServer.startPersistent(data.resolve("postgres"), options.port("postgres-port"));
        parts.add(new Parts.Server("PostgreSQL", postgres));
        postgres.postmasterPid().ifPresent(pid -> pids.put("postgres", pid));
        try (Connection connection = postgres.connect()) {
            for (String db : List.of("flatfare_registry", "flatfare_gateway", "flatfare_metering")) {
                try (PreparedStatement exists =
                        connection.prepareStatement("select 1 from pg_database where datname = ?")) {
                    exists.setString(1, db);
                    try (ResultSet rs = exists.executeQuery()) {
                        if (rs.next()) {
                            continue;
                        }
                    }
                }
                try (Statement create = connection.createStatement()) {
                    create.execute("create database " + db);
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("Could not create the services' databases: " + e.getMessage(), e);
        }
        return postgres;
    }

    private String startKafka() {
        Progress.say("starting Kafka (KRaft) on port " + options.port("kafka-port"));
        KafkaServer kafka = KafkaServer.startPersistent(
                data.resolve("kafka"), options.port("kafka-port"), options.port("kafka-controller-port"));
        parts.add(new Parts.Server("Kafka", kafka));
        try (Admin admin = Admin.create(Map.of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
                kafka.bootstrapServers(),
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG,
                "60000"))) {
            Set<String> existing = admin.listTopics().names().get(60, TimeUnit.SECONDS);
            List<NewTopic> missing = TOPICS.entrySet().stream()
                    .filter(t -> !existing.contains(t.getKey()))
                    .map(t -> new NewTopic(t.getKey(), t.getValue(), (short) 1))
                    .toList();
            if (!missing.isEmpty()) {
                admin.createTopics(missing).all().get(60, TimeUnit.SECONDS);
            }
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("Could not create the Kafka topics: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Parts.Stopping();
        }
        return kafka.bootstrapServers();
    }

    /** Without redis-server the gateway enforces each plan's rate and concurrency in memory (its documented fallback). */
    private String startRedis() {
        int port = options.port("redis-port");
        if (!RedisServer.isInstalled()) {
            Progress.say("redis-server is not installed: the gateway enforces plan limits in memory"
                    + " (on-redis-unavailable=local; monthly quotas are not enforced)");
            return "redis://127.0.0.1:" + port;
        }
        Progress.say("starting Redis on port " + port);
        RedisServer redis = RedisServer.startProcessOnPort(port);
        parts.add(new Parts.Server("Redis", redis));
        redis.pid().ifPresent(pid -> pids.put("redis", pid));
        return redis.url();
    }

    private ServiceProcess startInference(Path tiny, Map<String, Integer> contexts) {
        int port = options.port("inference-port");
        ServiceProcess.Builder builder = service("inference-service")
                .port(port)
                .env("FLATFARE_REGISTRY_HOST", "127.0.0.1")
                .env("FLATFARE_REGISTRY_PORT", String.valueOf(options.port("registry-port")))
                .env("FLATFARE_INFERENCE_DRAIN_TIMEOUT", "5s")
                .property("flatfare.inference.instance-id", "local-1")
                .property("flatfare.inference.advertised-address", "127.0.0.1:" + port)
                .property(
                        "flatfare.inference.native-extract-directory",
                        data.resolve("native").toString())
                .property(model(TINY, "path"), tiny.toString())
                .property(model(TINY, "context"), String.valueOf(contexts.get(TINY)))
                .property(model(TINY_EMBED, "path"), tiny.toString())
                .property(model(TINY_EMBED, "embeddings"), "true")
                .property(model(TINY_EMBED, "slots"), "1")
                .property(model(TINY_EMBED, "context"), String.valueOf(contexts.get(TINY_EMBED)));
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
        for (UpOptions.Model extra : options.models()) {
            builder.property(model(extra.id(), "path"), extra.path().toString())
                    .property(model(extra.id(), "context"), String.valueOf(contexts.get(extra.id())))
                    .property(model(extra.id(), "threads"), String.valueOf(threads));
        }
        ServiceProcess inference = builder.start();
        parts.add(new Parts.Service("inference-service", inference));
        return inference;
    }

    /**
     * Adds the {@code --model} files to the catalog unless an entry of that id exists, and returns the context each
     * served model gets: the one its catalog entry advertises, so that {@code /v1/models} tells a client what fits (a
     * prompt within {@code context_length} is served, a longer one is {@code context_length_exceeded}).
     */
    private Map<String, Integer> catalog(ServiceProcess registry) {
        AdminClient admin = new AdminClient(registry.baseUrl(), tokens.getProperty("registry.admin-token"));
        Map<String, Integer> contexts = new LinkedHashMap<>();
        for (String id : List.of(TINY, TINY_EMBED)) {
            contexts.put(id, contextLength(id, admin.get("/admin/models/" + id)));
        }
        for (UpOptions.Model model : options.models()) {
            AdminClient.Answer entry = admin.get("/admin/models/" + model.id());
            if (entry.status() == 404) {
                Progress.say("adding " + model.id() + " to the model catalog");
                entry = new AdminClient.Answer(
                        201,
                        admin.postOrThrow(
                                "/admin/models",
                                Map.of(
                                        "id",
                                        model.id(),
                                        "display_name",
                                        model.path().getFileName().toString(),
                                        "owned_by",
                                        "local",
                                        "capabilities",
                                        List.of("chat", "completion"),
                                        "context_length",
                                        EXTRA_MODEL_CONTEXT,
                                        "max_output_tokens",
                                        2048,
                                        "price_tier",
                                        TIER)));
            }
            contexts.put(model.id(), contextLength(model.id(), entry));
        }
        return contexts;
    }

    private static int contextLength(String id, AdminClient.Answer entry) {
        int context = entry.body().path("context_length").asInt();
        if (!entry.ok() || context <= 0) {
            throw new IllegalStateException(
                    "the model registry has no context length for " + id + " (answered " + entry.status() + ")");
        }
        return context;
    }

    /** Metering dead-letters usage of a tier without a price; a fresh rate card gets a demo price for the tier. */
    private void seedPrice(ServiceProcess metering) {
        AdminClient admin = new AdminClient(metering.baseUrl(), tokens.getProperty("metering.admin-token"));
        // A tier that never had a price is 404 tier_not_found; a history is never empty.
        AdminClient.Answer prices = admin.get("/admin/price-tiers/" + TIER);
        if (!prices.ok() && prices.status() != 404) {
            throw new IllegalStateException("metering answered " + prices.status() + " for the price of tier " + TIER);
        }
        if (prices.status() == 404) {
            Progress.say("giving tier '" + TIER + "' a demo price of " + DEMO_PRICE_MICROS + " micro-USD per request");
            admin.postOrThrow(
                    "/admin/price-tiers/" + TIER, Map.of("price_micros", DEMO_PRICE_MICROS, "currency", "USD"));
        }
    }

    /** The key kept in the data directory when it still works, else a new one on the demo account. */
    private String demoKey(ServiceProcess gateway) {
        Path keyFile = data.resolve("demo-api-key");
        var kept = StateFiles.read(keyFile).filter(k -> !k.isBlank());
        if (kept.isPresent()
                && new AdminClient(gateway.baseUrl(), kept.get())
                        .get("/v1/models")
                        .ok()) {
            Progress.say("reusing the demo API key kept in " + keyFile);
            return kept.get();
        }
        AdminClient admin = new AdminClient(gateway.baseUrl(), tokens.getProperty("gateway.admin-token"));
        if (admin.get("/admin/plans/" + DEMO_PLAN).status() == 404) {
            admin.postOrThrow(
                    "/admin/plans",
                    Map.of(
                            "id",
                            DEMO_PLAN,
                            "allowed_models",
                            List.of("*"),
                            "requests_per_minute",
                            600,
                            "concurrent_requests",
                            16));
        }
        if (admin.get("/admin/accounts/" + DEMO_ACCOUNT).status() == 404) {
            admin.postOrThrow(
                    "/admin/accounts", Map.of("id", DEMO_ACCOUNT, "name", "Local demo", "plan_id", DEMO_PLAN));
        }
        String key = admin.postOrThrow("/admin/accounts/" + DEMO_ACCOUNT + "/keys", Map.of("name", "flatfare up"))
                .path("key")
                .asText();
        StateFiles.writePrivate(keyFile, key + "\n");
        Progress.say("created a demo API key on account " + DEMO_ACCOUNT + ", kept in " + keyFile);
        return key;
    }

    /** The gateway learns of ready instances from the registry every few seconds; the first request must work. */
    private void awaitRoutable(ServiceProcess gateway, String key, List<String> models) {
        AdminClient client = new AdminClient(gateway.baseUrl(), key);
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        for (String model : models) {
            while (true) {
                AdminClient.Answer answer = client.get("/v1/models/" + model);
                JsonNode instances = answer.body().path("ready_instances");
                if (answer.ok() && instances.asInt() > 0) {
                    break;
                }
                if (parts.stopping()) {
                    throw new Parts.Stopping();
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new IllegalStateException(
                            "The gateway has no ready instance of " + model + " after " + READY_TIMEOUT);
                }
                sleep(Duration.ofMillis(250));
            }
        }
    }

    private void awaitReady(String name, ServiceProcess process) {
        Progress.say("waiting for " + name + " on port " + process.port());
        try {
            process.awaitReady(READY_TIMEOUT);
        } catch (RuntimeException e) {
            if (parts.stopping()) {
                throw new Parts.Stopping();
            }
            throw new IllegalStateException(name + " did not become ready; its log: " + log(name), e);
        }
    }

    private ServiceProcess.Builder service(String module) {
        Path jar = root.resolve(module).resolve("target/quarkus-app/quarkus-run.jar");
        Progress.say("starting " + module + " (log: " + log(module) + ")");
        return ServiceProcess.builder(module, jar)
                .workDirectory(data.resolve("services").resolve(module))
                // Local only: nothing the launcher starts is reachable from the network.
                .property("quarkus.http.host", "127.0.0.1");
    }

    Path log(String module) {
        return data.resolve("services").resolve(module).resolve(module + ".log");
    }

    private String jdbcUrl(String database) {
        return "jdbc:postgresql://127.0.0.1:" + options.port("postgres-port") + "/" + database;
    }

    private static String model(String id, String key) {
        return "flatfare.inference.models." + id + "." + key;
    }

    /** {@code <name> <pid>} per line: every process this run started, for people and tests to check. */
    private void writePids() {
        for (String name : List.of("model-registry", "inference-service", "metering-service", "gateway-service")) {
            parts.pid(name).ifPresent(pid -> pids.put(name, pid));
        }
        pids.put("launcher", ProcessHandle.current().pid());
        String text = pids.entrySet().stream()
                .map(e -> e.getKey() + " " + e.getValue())
                .collect(Collectors.joining("\n", "", "\n"));
        try {
            Files.writeString(data.resolve("pids"), text);
        } catch (IOException e) {
            throw new UncheckedIOException("Could not write " + data.resolve("pids"), e);
        }
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Parts.Stopping();
        }
    }
}
