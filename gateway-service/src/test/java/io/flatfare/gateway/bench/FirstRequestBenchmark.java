package io.flatfare.gateway.bench;

import static io.flatfare.gateway.bench.GatewayOverheadBenchmark.DEADLINE;
import static io.flatfare.gateway.bench.GatewayOverheadBenchmark.chatBody;
import static io.flatfare.gateway.bench.GatewayOverheadBenchmark.direct;
import static io.flatfare.gateway.bench.GatewayOverheadBenchmark.issueKey;
import static io.flatfare.gateway.bench.GatewayOverheadBenchmark.percentile;

import io.flatfare.contracts.inference.v1.InferenceServiceGrpc;
import io.flatfare.testing.kafka.KafkaServer;
import io.flatfare.testing.postgres.PostgresServer;
import io.flatfare.testing.redis.RedisServer;
import io.flatfare.testing.services.InferenceServer;
import io.flatfare.testing.services.RegistryServer;
import io.flatfare.testing.services.ServiceProcess;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The first request to a freshly started service against the ones after it, with the service's warm-up and without
 * it, side by side in one run: "the first request is as fast as the hundredth".
 *
 * <p>Inference: each round starts a new instance ({@code flatfare.inference.service-warm-up} on or off, ABBA order),
 * waits until it is ready, and times direct gRPC {@code Generate} calls from this process, whose client is warm (a
 * throw-away instance was called first), with the channel connected before the clock starts: only the service's
 * own first-call cost is counted. Gateway: one instance serves every round; each round starts a new gateway
 * ({@code flatfare.gateway.warm-up.enabled} on or off), waits until it is ready, and times chat requests over one
 * keep-alive connection opened before the clock starts, with a key issued earlier (so the first request also looks
 * the key up in PostgreSQL, as the first request of a new replica does).
 *
 * <p>Prints, per side, the median over the rounds of the first and the second request and of the median of requests
 * 11 to {@code bench.requests}. Options: {@code bench.rounds} (4 per side), {@code bench.requests} (50),
 * {@code bench.max-tokens} (2), {@code bench.baseline-gateway} (the {@code quarkus-run.jar} of another build of the
 * gateway, in its complete {@code quarkus-app} folder: adds a side with that build's warm-up, so that a change is
 * measured against the build before it in the same run). Not part of {@code verify}; see the README.
 */
public final class FirstRequestBenchmark {

    private record Side(String name, List<long[]> rounds) {

        double median(int index) {
            long[] values = rounds.stream().mapToLong(r -> r[index]).sorted().toArray();
            return percentile(values, 50);
        }

        /** The median over rounds of each round's median of requests 11 and later. */
        double steady() {
            long[] medians = rounds.stream()
                    .mapToLong(r -> {
                        long[] rest = Arrays.copyOfRange(r, 10, r.length);
                        Arrays.sort(rest);
                        return rest[rest.length / 2];
                    })
                    .sorted()
                    .toArray();
            return percentile(medians, 50);
        }
    }

    interface Timed {
        void run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        int rounds = Integer.getInteger("bench.rounds", 4);
        int requests = Math.max(20, Integer.getInteger("bench.requests", 50));
        int maxTokens = Integer.getInteger("bench.max-tokens", 2);
        String baseline = System.getProperty("bench.baseline-gateway", "");
        System.out.printf(
                "first request vs later ones: %d rounds per side, %d requests per round, max_tokens %d%n",
                rounds, requests, maxTokens);

        String adminToken = UUID.randomUUID().toString();
        Path journal = Files.createTempDirectory("flatfare-bench-journal").toAbsolutePath();
        try (var postgres = PostgresServer.start();
                var redis = RedisServer.start();
                var kafka = KafkaServer.start();
                var registry = RegistryServer.start(Duration.ofSeconds(10))) {

            // Inference: a fresh instance per round, called by this (warm) process.
            Side inferenceOn = new Side("inference, service warm-up on", new ArrayList<>());
            Side inferenceOff = new Side("inference, service warm-up off", new ArrayList<>());
            try (var throwAway = instance(registry, "first-warm-client", true)) {
                firstCalls(throwAway, 5, maxTokens);
            }
            for (int round = 0; round < rounds; round++) {
                for (boolean on : order(round, List.of(true, false))) {
                    try (var instance = instance(registry, "first-" + round + (on ? "-on" : "-off"), on)) {
                        (on ? inferenceOn : inferenceOff).rounds().add(firstCalls(instance, requests, maxTokens));
                    }
                }
            }

            // Gateway: one inference instance throughout, a fresh gateway per round.
            Path jar = GatewayOverheadBenchmark.gatewayJar();
            Function<Path, ServiceProcess.Builder> gateways = build -> GatewayOverheadBenchmark.gatewayBuilder(
                    "gateway-first", build, postgres, redis.url(), kafka, registry, adminToken, journal);
            List<GatewaySide> gatewaySides = new ArrayList<>(List.of(
                    new GatewaySide(new Side("gateway, warm-up off", new ArrayList<>()), jar, false),
                    new GatewaySide(new Side("gateway, warm-up on", new ArrayList<>()), jar, true)));
            if (!baseline.isBlank()) {
                Path baselineJar = Path.of(baseline).toAbsolutePath();
                if (!Files.isRegularFile(baselineJar)) {
                    throw new IllegalArgumentException("bench.baseline-gateway: no such file " + baselineJar);
                }
                gatewaySides.add(new GatewaySide(
                        new Side("gateway, warm-up on, baseline", new ArrayList<>()), baselineJar, true));
            }
            try (var inference = instance(registry, "first-upstream", true)) {
                String key;
                try (var gateway = startGateway(gateways.apply(jar), true)) {
                    key = issueKey(HttpClient.newHttpClient(), gateway.baseUrl(), adminToken);
                    firstRequests(gateway, key, 5, maxTokens); // warms this process's client
                }
                for (int round = 0; round < rounds; round++) {
                    for (GatewaySide side : order(round, gatewaySides)) {
                        try (var gateway = startGateway(gateways.apply(side.jar()), side.warmUp())) {
                            side.side().rounds().add(firstRequests(gateway, key, requests, maxTokens));
                        }
                    }
                }
            }

            System.out.printf(
                    "%n%-32s %10s %10s %16s %14s%n", "side", "first ms", "second ms", "steady p50 ms", "first/steady");
            List<Side> sides = new ArrayList<>(List.of(inferenceOff, inferenceOn));
            gatewaySides.forEach(g -> sides.add(g.side()));
            for (Side side : sides) {
                System.out.printf(
                        "%-32s %10.1f %10.1f %16.1f %13.1fx%n",
                        side.name(), side.median(0), side.median(1), side.steady(), side.median(0) / side.steady());
            }
            System.out.println("(medians over the rounds; steady: requests 11 and later)");
            System.out.println("first request of each round, ms, in order:");
            for (Side side : sides) {
                System.out.printf(
                        "  %-32s %s%n",
                        side.name(),
                        side.rounds().stream()
                                .map(r -> "%.1f".formatted(r[0] / 1e6))
                                .collect(java.util.stream.Collectors.joining(" ")));
            }
        } finally {
            GatewayOverheadBenchmark.deleteRecursively(journal);
        }
    }

    /** The sides in turn, first to last and then last to first, so that no side always runs first. */
    private static <T> List<T> order(int round, List<T> sides) {
        return round % 2 == 0 ? sides : sides.reversed();
    }

    private static InferenceServer instance(RegistryServer registry, String id, boolean serviceWarmUp) {
        return InferenceServer.builder(registry.port(), id)
                .property("flatfare.inference.service-warm-up", String.valueOf(serviceWarmUp))
                .property("quarkus.log.level", "WARN")
                .start();
    }

    /** A gateway build and whether its warm-up runs. */
    private record GatewaySide(Side side, Path jar, boolean warmUp) {}

    /** Starts the gateway {@code builder} makes, its warm-up on or off, and waits until it is ready. */
    private static ServiceProcess startGateway(ServiceProcess.Builder builder, boolean warmUp)
            throws InterruptedException {
        ServiceProcess gateway = builder.property("flatfare.gateway.warm-up.enabled", String.valueOf(warmUp))
                .start();
        try {
            gateway.awaitReady(Duration.ofSeconds(120));
            Thread.sleep(Long.getLong("bench.after-ready-ms", 0));
        } catch (RuntimeException | InterruptedException e) {
            gateway.close();
            throw e;
        }
        return gateway;
    }

    /** Nanoseconds of each of {@code count} direct calls, on a channel connected before the first. */
    private static long[] firstCalls(InferenceServer instance, int count, int maxTokens) throws Exception {
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", instance.port())
                .usePlaintext()
                .build();
        try {
            awaitConnected(channel);
            var grpc = InferenceServiceGrpc.newBlockingStub(channel);
            return times(count, () -> direct(grpc, maxTokens));
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** Nanoseconds of each of {@code count} chat requests, on a keep-alive connection opened before the first. */
    private static long[] firstRequests(ServiceProcess gateway, String key, int count, int maxTokens) throws Exception {
        URI uri = URI.create(gateway.baseUrl());
        byte[] request = KeepAliveHttpClient.post(
                uri.getHost(), uri.getPort(), "/v1/chat/completions", "Bearer " + key, chatBody(maxTokens));
        try (var client = new KeepAliveHttpClient(uri.getHost(), uri.getPort())) {
            return times(count, () -> GatewayOverheadBenchmark.gateway(client, request));
        }
    }

    private static long[] times(int count, Timed call) throws Exception {
        long[] nanos = new long[count];
        for (int i = 0; i < count; i++) {
            long start = System.nanoTime();
            call.run();
            nanos[i] = System.nanoTime() - start;
        }
        return nanos;
    }

    private static void awaitConnected(ManagedChannel channel) throws InterruptedException {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        ConnectivityState state = channel.getState(true);
        while (state != ConnectivityState.READY) {
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("The channel did not connect: " + state);
            }
            var changed = new java.util.concurrent.CountDownLatch(1);
            channel.notifyWhenStateChanged(state, changed::countDown);
            changed.await(1, TimeUnit.SECONDS);
            state = channel.getState(true);
        }
    }
}
