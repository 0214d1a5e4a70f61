package io.flatfare.gateway.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.Timestamp;
import io.flatfare.contracts.inference.v1.ChatInput;
import io.flatfare.contracts.inference.v1.ChatMessage;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.inference.v1.InferenceServiceGrpc;
import io.flatfare.contracts.inference.v1.SamplingParams;
import io.flatfare.testing.kafka.KafkaServer;
import io.flatfare.testing.postgres.PostgresServer;
import io.flatfare.testing.redis.RedisServer;
import io.flatfare.testing.services.InferenceServer;
import io.flatfare.testing.services.RegistryServer;
import io.flatfare.testing.services.ServiceProcess;
import io.flatfare.testing.support.CpuTime;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Latency the gateway adds, and its throughput, against calling the same inference instance directly over gRPC: the
 * same chat request both ways, at fixed concurrency, the two sides alternating round after round so both see the
 * same machine. Everything is real: PostgreSQL, Redis, Kafka, a registry process, an inference process serving the
 * tiny model, and the packaged gateway jar as its own process; the load generator runs in this JVM.
 *
 * <p>Run: {@code ./mvnw -B -pl gateway-service -Pbench -DskipTests verify} after packaging model-registry and
 * inference-service (see the module README). Arguments (system properties): {@code bench.concurrency} (1,4,16),
 * {@code bench.seconds} (5 per side per round), {@code bench.rounds} (3), {@code bench.warmup-requests} (100000, the
 * gateway requests the warm-up sends at least), {@code bench.warmup-seconds} (420, the most the warm-up may take),
 * {@code bench.max-tokens} (2), {@code bench.jfr} (a file: record the gateway with JFR into it),
 * {@code bench.baseline-gateway} (the {@code quarkus-run.jar} of another build, e.g. the commit before a change: run
 * as a third side, "baseline", in the same rounds, so that the change is measured against it in one run),
 * {@code bench.java-options} and {@code bench.baseline-java-options} (JVM options of the gateway and of the baseline
 * side, e.g. another garbage collector; the second alone runs this build's jar as the baseline).
 */
public final class GatewayOverheadBenchmark {

    static final String MODEL = InferenceServer.MODEL;
    static final String PROMPT = "Say hello.";
    static final Duration DEADLINE = Duration.ofSeconds(60);

    // Targets from the issue, on a 2-core machine shared by the load generator, the gateway and the upstream.
    static final double MAX_ADDED_P50_MS = 1.0;
    static final double MAX_ADDED_P99_MS = 3.0;
    static final double MIN_THROUGHPUT_RATIO = 0.5;

    static final ObjectMapper JSON = new ObjectMapper();
    static final int CORES = Runtime.getRuntime().availableProcessors();

    /**
     * One side of one round: latencies (ns) of every request, the wall time the side ran for, the gateway's CPU time
     * (its compiler threads' apart), the inference process' CPU time, and the whole machine's busy and total CPU time
     * (every process, every core).
     */
    record Run(
            long[] latencies,
            long nanos,
            long gatewayCpuNanos,
            long gatewayCompilerNanos,
            long inferenceCpuNanos,
            long machineBusyNanos,
            long machineNanos) {}

    /** A side's totals over every round of one concurrency. */
    record Totals(
            double requestsPerSecond,
            double p50,
            double p90,
            double p99,
            double p999,
            long requests,
            double cpuMicros,
            double compilerMillis,
            double inferenceCpuMicros,
            double machineCpuMicros,
            double machineBusyShare) {

        static Totals of(List<Run> runs) {
            long nanos = runs.stream().mapToLong(Run::nanos).sum();
            long[] all = runs.stream()
                    .flatMapToLong(r -> Arrays.stream(r.latencies()))
                    .sorted()
                    .toArray();
            long cpu = runs.stream().mapToLong(Run::gatewayCpuNanos).sum();
            return new Totals(
                    all.length / (nanos / 1e9),
                    percentile(all, 50),
                    percentile(all, 90),
                    percentile(all, 99),
                    percentile(all, 99.9),
                    all.length,
                    all.length == 0 ? 0 : cpu / 1e3 / all.length,
                    runs.stream().mapToLong(Run::gatewayCompilerNanos).sum() / 1e6,
                    all.length == 0
                            ? 0
                            : runs.stream().mapToLong(Run::inferenceCpuNanos).sum() / 1e3 / all.length,
                    all.length == 0
                            ? 0
                            : runs.stream().mapToLong(Run::machineBusyNanos).sum() / 1e3 / all.length,
                    (double) runs.stream().mapToLong(Run::machineBusyNanos).sum()
                            / Math.max(
                                    1,
                                    runs.stream().mapToLong(Run::machineNanos).sum()));
        }
    }

    interface Call {
        void run(int thread) throws Exception;
    }

    /** What a round measures: the direct calls ({@code process} null) or a gateway process. */
    record Side(String name, Call call, ProcessHandle process) {}

    /**
     * A gateway process as a side: waits until it routes to the instance and checks that it generates what the
     * direct call does.
     */
    static Side gatewaySide(
            String name,
            ServiceProcess gateway,
            String key,
            HttpClient http,
            InferenceServiceGrpc.InferenceServiceBlockingStub grpc,
            int maxTokens,
            int slots,
            boolean jdkClient)
            throws Exception {
        HttpRequest viaGateway = HttpRequest.newBuilder(URI.create(gateway.baseUrl() + "/v1/chat/completions"))
                .header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json")
                .timeout(DEADLINE)
                .POST(HttpRequest.BodyPublishers.ofString(chatBody(maxTokens)))
                .build();
        URI uri = URI.create(gateway.baseUrl());
        byte[] rawRequest = KeepAliveHttpClient.post(
                uri.getHost(), uri.getPort(), "/v1/chat/completions", "Bearer " + key, chatBody(maxTokens));
        KeepAliveHttpClient[] clients = new KeepAliveHttpClient[slots];
        for (int i = 0; i < slots; i++) {
            clients[i] = new KeepAliveHttpClient(uri.getHost(), uri.getPort());
        }
        awaitRoutable(http, viaGateway);
        compareAnswers(grpc, http, viaGateway, maxTokens);
        JsonNode raw = JSON.readTree(gateway(clients[0], rawRequest));
        if (raw.path("usage").path("completion_tokens").asInt(-1) != direct(grpc, maxTokens)) {
            throw new IllegalStateException("The keep-alive client read an unexpected answer: " + raw);
        }
        Call call = jdkClient ? thread -> gateway(http, viaGateway) : thread -> gateway(clients[thread], rawRequest);
        return new Side(name, call, ProcessHandle.of(gateway.pid()).orElseThrow());
    }

    public static void main(String[] args) throws Exception {
        int[] concurrencies = Arrays.stream(
                        System.getProperty("bench.concurrency", "1,4,16").split(","))
                .mapToInt(s -> Integer.parseInt(s.trim()))
                .toArray();
        double seconds = Double.parseDouble(System.getProperty("bench.seconds", "5"));
        int rounds = Integer.getInteger("bench.rounds", 3);
        double warmup = Double.parseDouble(System.getProperty("bench.warmup-seconds", "420"));
        long warmupRequests = Long.getLong("bench.warmup-requests", 100_000);
        int maxTokens = Integer.getInteger("bench.max-tokens", 2);
        String jfr = System.getProperty("bench.jfr", "");
        String baseline = System.getProperty("bench.baseline-gateway", "");
        String javaOptions = System.getProperty("bench.java-options", "").strip();
        String baselineJavaOptions =
                System.getProperty("bench.baseline-java-options", "").strip();
        int slots = Arrays.stream(concurrencies).max().orElse(1);
        long redisDelayMicros = Long.getLong("bench.redis-delay-us", 0);

        System.out.printf(
                "gateway overhead: concurrency %s, %d rounds x %.1f s per side, warm-up %d gateway requests (at most"
                        + " %.0f s), max_tokens %d, %d CPUs%n",
                Arrays.toString(concurrencies), rounds, seconds, warmupRequests, warmup, maxTokens, CORES);

        String adminToken = UUID.randomUUID().toString();
        Path journal = Files.createTempDirectory("flatfare-bench-journal").toAbsolutePath();
        Path baselineJournal =
                Files.createTempDirectory("flatfare-bench-journal-baseline").toAbsolutePath();
        Path baselineJar = null;
        if (!baseline.isBlank()) {
            baselineJar = Path.of(baseline).toAbsolutePath();
            if (!Files.isRegularFile(baselineJar)) {
                throw new IllegalArgumentException("bench.baseline-gateway: no such file " + baselineJar);
            }
        } else if (!baselineJavaOptions.isEmpty()) {
            baselineJar = gatewayJar(); // the same build under other JVM options
        }
        try (var postgres = PostgresServer.start();
                var redis = RedisServer.start();
                // Redis over a network: each way this much later, for both gateways (the direct side uses none).
                var redisLink = redisDelayMicros > 0 ? new DelayedLink(redis.url(), redisDelayMicros) : null;
                var kafka = KafkaServer.start();
                var registry = RegistryServer.start(Duration.ofSeconds(10));
                // The baseline's own database: another build may have other migrations.
                var baselinePostgres = baselineJar == null ? null : PostgresServer.start();
                var inference = InferenceServer.builder(registry.port(), "bench-1")
                        .slots(slots)
                        .queue(slots)
                        .context(1024)
                        .property("quarkus.log.level", "WARN")
                        .start()) {
            String redisUrl = redisLink == null ? redis.url() : redisLink.url(redis.url());
            if (redisLink != null) {
                System.out.printf("Redis reached through a link delaying each way by %d us%n", redisDelayMicros);
            }
            ServiceProcess.Builder gatewayBuilder = gatewayBuilder(
                    "gateway-bench", gatewayJar(), postgres, redisUrl, kafka, registry, adminToken, journal);
            // JAVA_TOOL_OPTIONS reaches the JVM flags, which ServiceProcess' -D properties cannot.
            String gatewayJvm = jfr.isBlank()
                    ? javaOptions
                    : (javaOptions + " -XX:StartFlightRecording=settings=profile,dumponexit=true,filename="
                                    + Path.of(jfr).toAbsolutePath())
                            .strip();
            if (!gatewayJvm.isEmpty()) {
                gatewayBuilder.env("JAVA_TOOL_OPTIONS", gatewayJvm);
            }
            try (var gateway = gatewayBuilder.startReady(Duration.ofSeconds(120));
                    var baselineGateway = baselineJar == null
                            ? null
                            : gatewayBuilder(
                                            "gateway-baseline",
                                            baselineJar,
                                            baselinePostgres,
                                            redisUrl,
                                            kafka,
                                            registry,
                                            adminToken,
                                            baselineJournal)
                                    .env("JAVA_TOOL_OPTIONS", baselineJavaOptions)
                                    .startReady(Duration.ofSeconds(120))) {
                HttpClient http = HttpClient.newBuilder()
                        .version(HttpClient.Version.HTTP_1_1)
                        .connectTimeout(Duration.ofSeconds(5))
                        .build();
                String key = issueKey(http, gateway.baseUrl(), adminToken);
                ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", inference.port())
                        .usePlaintext()
                        .build();
                try {
                    var grpc = InferenceServiceGrpc.newBlockingStub(channel);
                    boolean jdkClient = "jdk".equals(System.getProperty("bench.http-client", "raw"));
                    System.out.printf(
                            "HTTP client of the gateway side: %s%n",
                            jdkClient ? "the JDK's HttpClient" : "one keep-alive connection per thread, read by it");
                    Side direct = new Side("direct", thread -> direct(grpc, maxTokens), null);
                    ProcessHandle inferenceProcess =
                            ProcessHandle.of(inference.process().pid()).orElseThrow();
                    List<Side> gateways = new ArrayList<>();
                    gateways.add(gatewaySide("gateway", gateway, key, http, grpc, maxTokens, slots, jdkClient));
                    if (baselineGateway != null) {
                        String baselineKey = issueKey(http, baselineGateway.baseUrl(), adminToken);
                        gateways.add(gatewaySide(
                                "baseline", baselineGateway, baselineKey, http, grpc, maxTokens, slots, jdkClient));
                        System.out.println("baseline gateway: " + baselineJar
                                + (baselineJavaOptions.isEmpty() ? "" : ", JVM options " + baselineJavaOptions));
                    }
                    List<Side> sides = new ArrayList<>();
                    sides.add(direct);
                    sides.addAll(gateways);

                    // The JIT: a method the gateway runs once per request reaches C2 only after 5,000 to 15,000
                    // requests, more while the compile queue is long (a JFR recording showed the Kafka producer's
                    // append, the gRPC stream start and the Redis reply handling compiled by C2 for the first time
                    // after 3 minutes of the former 180 s warm-up, during the timed rounds), and a compiler thread
                    // busy then takes a core share from both sides. A gateway in service has run millions; so both
                    // sides are driven, 25 s per pass and mostly the gateways, until each gateway has answered
                    // bench.warmup-requests and its compiler threads were busy less than 2 % of the last pass, or
                    // bench.warmup-seconds passed.
                    long warmStart = System.nanoTime();
                    long warmRequests = 0;
                    double compilerShare;
                    do {
                        long passStart = System.nanoTime();
                        long[] compilerBefore = gateways.stream()
                                .mapToLong(
                                        g -> CpuTime.compilerNanos(g.process().pid()))
                                .toArray();
                        measure(direct.call(), 1, 2, null, null);
                        measure(direct.call(), slots, 5, null, null);
                        long fewest = Long.MAX_VALUE;
                        for (Side side : gateways) {
                            long answered = measure(side.call(), 1, 3.0 / gateways.size(), null, null)
                                            .latencies()
                                            .length
                                    + measure(side.call(), slots, 15.0 / gateways.size(), null, null)
                                            .latencies()
                                            .length;
                            fewest = Math.min(fewest, answered);
                        }
                        warmRequests += fewest;
                        compilerShare = 0;
                        for (int i = 0; i < gateways.size(); i++) {
                            compilerShare = Math.max(
                                    compilerShare,
                                    (double) (CpuTime.compilerNanos(gateways.get(i)
                                                            .process()
                                                            .pid())
                                                    - compilerBefore[i])
                                            / (System.nanoTime() - passStart));
                        }
                    } while ((warmRequests < warmupRequests || compilerShare >= 0.02)
                            && (System.nanoTime() - warmStart) / 1e9 < warmup);
                    System.out.printf(
                            "warm-up %.0f s, %d requests per gateway; the gateways' JIT compiler threads busy at most"
                                    + " %.1f %% of the last pass%n",
                            (System.nanoTime() - warmStart) / 1e9, warmRequests, compilerShare * 100);

                    System.out.printf(
                            "%n%-5s %-8s %9s %9s %9s %9s %9s %9s %11s %12s %12s %10s%n",
                            "conc",
                            "side",
                            "req/s",
                            "p50 ms",
                            "p90 ms",
                            "p99 ms",
                            "p99.9 ms",
                            "busy",
                            "CPU/req",
                            "inf CPU/req",
                            "gw CPU/req",
                            "gw JIT ms");
                    List<String> verdicts = new ArrayList<>();
                    for (int c : concurrencies) {
                        List<List<Run>> runs = new ArrayList<>();
                        sides.forEach(side -> runs.add(new ArrayList<>()));
                        for (int r = 0; r < rounds; r++) {
                            // The order rotates round after round (two sides: alternate), so that each side runs
                            // in each place equally often and a drift in machine load, or the side before, favours
                            // none.
                            for (int i = 0; i < sides.size(); i++) {
                                int index = (r + i) % sides.size();
                                Side side = sides.get(index);
                                runs.get(index).add(measure(side.call(), c, seconds, side.process(), inferenceProcess));
                            }
                        }
                        List<Totals> totals = runs.stream().map(Totals::of).toList();
                        Totals d = totals.get(0);
                        print(c, "direct", d, "");
                        for (int i = 1; i < sides.size(); i++) {
                            Totals g = totals.get(i);
                            print(
                                    c,
                                    sides.get(i).name(),
                                    g,
                                    String.format("%9.0f µs %10.0f", g.cpuMicros(), g.compilerMillis()));
                        }
                        for (int i = 1; i < sides.size(); i++) {
                            Totals g = totals.get(i);
                            double addedP50 = g.p50() - d.p50();
                            double addedP99 = g.p99() - d.p99();
                            double ratio = g.requestsPerSecond() / d.requestsPerSecond();
                            boolean met = addedP50 <= MAX_ADDED_P50_MS
                                    && addedP99 <= MAX_ADDED_P99_MS
                                    && ratio >= MIN_THROUGHPUT_RATIO;
                            String verdict = String.format(
                                    "%-5d %-8s added p50 %+.2f ms, added p99 %+.2f ms, throughput %.2fx direct (%d /"
                                            + " %d requests): %s",
                                    c,
                                    sides.get(i).name(),
                                    addedP50,
                                    addedP99,
                                    ratio,
                                    g.requests(),
                                    d.requests(),
                                    met ? "PASS" : "NOT MET");
                            System.out.println(verdict);
                            verdicts.add(verdict);
                            // With every core busy, requests/s = cores / machine CPU per request, so by Little's law
                            // a fixed concurrency c waits c x (extra CPU per request) / cores longer, whatever
                            // spends it.
                            double extraMicros = g.machineCpuMicros() - d.machineCpuMicros();
                            System.out.printf(
                                    "%-5s the %s side costs the machine %+.0f µs of CPU per request (gateway, Redis,"
                                            + " Kafka, HTTP client); with the cores saturated that alone adds %.2f ms"
                                            + " at concurrency %d%n",
                                    "", sides.get(i).name(), extraMicros, c * extraMicros / 1e3 / CORES, c);
                        }
                        if (sides.size() == 3) {
                            Totals g = totals.get(1);
                            Totals b = totals.get(2);
                            String change = String.format(
                                    "%-5d gateway against baseline: p50 %+.2f ms, p99 %+.2f ms, p99.9 %+.2f ms,"
                                            + " throughput %.2fx, gateway CPU per request %+.0f µs",
                                    c,
                                    g.p50() - b.p50(),
                                    g.p99() - b.p99(),
                                    g.p999() - b.p999(),
                                    g.requestsPerSecond() / b.requestsPerSecond(),
                                    g.cpuMicros() - b.cpuMicros());
                            System.out.println(change);
                            verdicts.add(change);
                        }
                    }
                    System.out.printf(
                            "%ntargets: added latency <= %.0f ms p50 and <= %.0f ms p99; throughput >= %.1fx direct%n",
                            MAX_ADDED_P50_MS, MAX_ADDED_P99_MS, MIN_THROUGHPUT_RATIO);
                    verdicts.forEach(System.out::println);
                } finally {
                    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                }
                // A graceful stop, so JFR writes its recording before the directory goes.
                gateway.terminate();
                gateway.awaitExit(Duration.ofSeconds(60));
            }
        } finally {
            deleteRecursively(journal);
            deleteRecursively(baselineJournal);
        }
        if (!jfr.isBlank()) {
            System.out.println("JFR recording of the gateway: " + Path.of(jfr).toAbsolutePath());
        }
        System.exit(0);
    }

    static void print(int concurrency, String side, Totals t, String cpu) {
        System.out.printf(
                "%-5d %-8s %9.1f %9.2f %9.2f %9.2f %9.2f %8.0f%% %8.0f µs %9.0f µs %s%n",
                concurrency,
                side,
                t.requestsPerSecond(),
                t.p50(),
                t.p90(),
                t.p99(),
                t.p999(),
                t.machineBusyShare() * 100,
                t.machineCpuMicros(),
                t.inferenceCpuMicros(),
                cpu);
    }

    /**
     * {@code concurrency} threads, each sending requests back to back for {@code seconds}. With {@code gateway} and
     * {@code inference} given, also those processes' CPU time over the run.
     */
    static Run measure(Call call, int concurrency, double seconds, ProcessHandle gateway, ProcessHandle inference)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        try {
            long cpuStart = cpuNanos(gateway);
            long inferenceStart = cpuNanos(inference);
            long compilerStart = gateway == null ? 0 : CpuTime.compilerNanos(gateway.pid());
            CpuTime.Machine machineStart = CpuTime.machine();
            long start = System.nanoTime();
            long end = start + (long) (seconds * 1e9);
            List<CompletableFuture<long[]>> threads = new ArrayList<>();
            AtomicLong failures = new AtomicLong();
            for (int t = 0; t < concurrency; t++) {
                int thread = t;
                threads.add(CompletableFuture.supplyAsync(
                        () -> {
                            long[] latencies = new long[1024];
                            int n = 0;
                            long now = System.nanoTime();
                            while (now - end < 0) {
                                try {
                                    call.run(thread);
                                } catch (Exception e) {
                                    if (failures.incrementAndGet() == 1) {
                                        e.printStackTrace();
                                    }
                                    throw new IllegalStateException(e);
                                }
                                long after = System.nanoTime();
                                if (n == latencies.length) {
                                    latencies = Arrays.copyOf(latencies, n * 2);
                                }
                                latencies[n++] = after - now;
                                now = after;
                            }
                            return Arrays.copyOf(latencies, n);
                        },
                        pool));
            }
            List<long[]> all = new ArrayList<>();
            for (var thread : threads) {
                all.add(thread.get());
            }
            long nanos = System.nanoTime() - start;
            long[] latencies = all.stream().flatMapToLong(Arrays::stream).toArray();
            long compiler = gateway == null ? 0 : CpuTime.compilerNanos(gateway.pid()) - compilerStart;
            CpuTime.Machine machine = CpuTime.machine().since(machineStart);
            return new Run(
                    latencies,
                    nanos,
                    cpuNanos(gateway) - cpuStart,
                    compiler,
                    cpuNanos(inference) - inferenceStart,
                    machine.busyNanos(),
                    machine.totalNanos());
        } finally {
            pool.shutdownNow();
        }
    }

    static long cpuNanos(ProcessHandle process) {
        return process == null
                ? 0
                : process.info().totalCpuDuration().orElseThrow().toNanos();
    }

    /** What the gateway sends for {@link #chatBody}: the same model, message, sampling and a deadline. */
    static GenerateRequest generateRequest(int maxTokens) {
        Instant deadline = Instant.now().plus(DEADLINE);
        return GenerateRequest.newBuilder()
                .setRequestId("req_" + UUID.randomUUID().toString().replace("-", ""))
                .setModel(MODEL)
                .setChat(ChatInput.newBuilder()
                        .addMessages(ChatMessage.newBuilder().setRole("user").setContent(PROMPT)))
                .setSampling(SamplingParams.newBuilder()
                        .setN(1)
                        .setMaxTokens(maxTokens)
                        .setTemperature(0)
                        .setSeed(7))
                .setDeadline(Timestamp.newBuilder()
                        .setSeconds(deadline.getEpochSecond())
                        .setNanos(deadline.getNano()))
                .build();
    }

    static String chatBody(int maxTokens) {
        return """
                {"model":"%s","messages":[{"role":"user","content":"%s"}],"max_tokens":%d,"temperature":0,"seed":7}""".formatted(MODEL, PROMPT, maxTokens);
    }

    /** The direct call: the whole stream consumed; returns the completion tokens the instance reported. */
    static int direct(InferenceServiceGrpc.InferenceServiceBlockingStub grpc, int maxTokens) {
        Iterator<GenerateResponse> stream =
                grpc.withDeadlineAfter(DEADLINE.toSeconds(), TimeUnit.SECONDS).generate(generateRequest(maxTokens));
        int tokens = -1;
        while (stream.hasNext()) {
            GenerateResponse response = stream.next();
            if (response.hasDone()) {
                tokens = response.getDone().getUsage().getCompletionTokens();
            }
        }
        if (tokens < 0) {
            throw new IllegalStateException("The stream ended without its done message");
        }
        return tokens;
    }

    static String gateway(HttpClient http, HttpRequest request) throws Exception {
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IllegalStateException("Gateway answered " + response.statusCode() + ": " + response.body());
        }
        return response.body();
    }

    static String gateway(KeepAliveHttpClient client, byte[] request) throws Exception {
        KeepAliveHttpClient.Answer answer = client.send(request);
        if (answer.status() != 200) {
            throw new IllegalStateException("Gateway answered " + answer.status() + ": " + answer.body());
        }
        return answer.body();
    }

    /** Both sides must do the same work: the same number of generated tokens. */
    static void compareAnswers(
            InferenceServiceGrpc.InferenceServiceBlockingStub grpc, HttpClient http, HttpRequest request, int maxTokens)
            throws Exception {
        int direct = direct(grpc, maxTokens);
        JsonNode answer = JSON.readTree(gateway(http, request));
        int viaGateway = answer.path("usage").path("completion_tokens").asInt(-1);
        if (direct != viaGateway) {
            throw new IllegalStateException(
                    "Direct and gateway calls generated " + direct + " and " + viaGateway + " tokens");
        }
        System.out.printf("both sides generate %d tokens per request%n", direct);
    }

    /** The gateway learns of the instance from the registry's view; waits until it routes to it. */
    static void awaitRoutable(HttpClient http, HttpRequest request) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() == 200) {
                return;
            }
            if (response.statusCode() != 503 || System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("Gateway answered " + response.statusCode() + ": " + response.body());
            }
            // The registry view refreshes every 2 s; polling faster would gain nothing.
            Thread.sleep(200);
        }
    }

    /**
     * A plan whose limits are far above what the benchmark sends, so every request still runs the Redis admission
     * script (as a real plan does) but none is refused; then an account on it and a key.
     */
    static String issueKey(HttpClient http, String baseUrl, String adminToken) throws Exception {
        String plan = "bench-" + UUID.randomUUID().toString().substring(0, 8);
        admin(http, baseUrl + "/admin/plans", adminToken, """
                {"id":"%s","allowed_models":["*"],"requests_per_minute":100000000,"concurrent_requests":100000,
                 "requests_per_month":1000000000000}""".formatted(plan));
        String account = admin(http, baseUrl + "/admin/accounts", adminToken, """
                        {"name":"bench","plan_id":"%s"}""".formatted(plan))
                .path("id")
                .asText();
        return admin(http, baseUrl + "/admin/accounts/" + account + "/keys", adminToken, "{\"name\":\"bench\"}")
                .path("key")
                .asText();
    }

    static JsonNode admin(HttpClient http, String url, String adminToken, String body) throws Exception {
        HttpResponse<String> response = http.send(
                HttpRequest.newBuilder(URI.create(url))
                        .header("Authorization", "Bearer " + adminToken)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 201) {
            throw new IllegalStateException(url + " answered " + response.statusCode() + ": " + response.body());
        }
        return JSON.readTree(response.body());
    }

    /** This build's packaged gateway. */
    static Path gatewayJar() {
        return ServiceProcess.quarkusJar("gateway-service");
    }

    /** The packaged gateway {@code jar} on these servers, logging warnings only. */
    static ServiceProcess.Builder gatewayBuilder(
            String name,
            Path jar,
            PostgresServer postgres,
            String redisUrl,
            KafkaServer kafka,
            RegistryServer registry,
            String adminToken,
            Path journal) {
        return ServiceProcess.builder(name, jar)
                .env("FLATFARE_GATEWAY_DB_URL", postgres.jdbcUrl())
                .env("FLATFARE_GATEWAY_DB_USER", postgres.username())
                .env("FLATFARE_GATEWAY_DB_PASSWORD", postgres.password())
                .env("FLATFARE_REDIS_URL", redisUrl)
                .env("FLATFARE_KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrapServers())
                .env("FLATFARE_REGISTRY_HOST", "127.0.0.1")
                .env("FLATFARE_REGISTRY_PORT", String.valueOf(registry.port()))
                .env("FLATFARE_GATEWAY_ADMIN_TOKEN", adminToken)
                .env("FLATFARE_GATEWAY_USAGE_JOURNAL_DIR", journal.toString())
                .property("quarkus.log.level", "WARN");
    }

    /** Nearest-rank percentile in milliseconds of sorted nanosecond values. */
    static double percentile(long[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p / 100 * sorted.length);
        return sorted[Math.max(0, rank - 1)] / 1e6;
    }

    static void deleteRecursively(Path dir) throws Exception {
        if (!Files.exists(dir)) {
            return;
        }
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted((a, b) -> b.compareTo(a)).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
