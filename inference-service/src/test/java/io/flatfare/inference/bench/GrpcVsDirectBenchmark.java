package io.flatfare.inference.bench;

import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.inference.v1.InferenceServiceGrpc;
import io.flatfare.contracts.inference.v1.InfoRequest;
import io.flatfare.contracts.inference.v1.SamplingParams;
import io.flatfare.inference.engine.CancellationSignal;
import io.flatfare.inference.engine.FinishReason;
import io.flatfare.inference.engine.GenerationRequest;
import io.flatfare.inference.engine.GenerationSink;
import io.flatfare.inference.engine.InferenceEngine;
import io.flatfare.inference.engine.ModelSettings;
import io.flatfare.inference.engine.llamacpp.LlamaCppEngine;
import io.flatfare.inference.gguf.TinyLlamaModel;
import io.flatfare.inference.gguf.TinyLlamaSpec;
import io.flatfare.testing.services.ServiceProcess;
import io.flatfare.testing.support.CpuTime;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Tokens/s and time to first token at 1, 2 and 4 concurrent streams, through the gRPC service (the packaged
 * jar as its own process) versus the same engine called in-process, on the same model, prompts, seeds and
 * request lengths (see {@link #length}). The two run alternately, round after round, so both see the same machine.
 * Prints the ratios, the medians of all requests' times to first token, and their spread.
 *
 * <p>Run: {@code ./mvnw -B -pl inference-service -am -Pbench -DskipTests verify} (see the module README).
 * Arguments (system properties): {@code bench.width} (256), {@code bench.layers} (4), {@code bench.tokens}
 * (200 per request), {@code bench.rounds} (3), {@code bench.requests} (4 per stream per round),
 * {@code bench.concurrency} (1,2,4), {@code bench.warm-up} (3000 short requests per path before the timed rounds),
 * {@code bench.ascii} (true: ASCII output only, see {@link #banned}), {@code bench.cpu-split} (false: CPU, waiting
 * for a CPU and runs per 1,000 tokens of each thread of the generating process, by name), {@code bench.think-ms} (0: each stream's next request
 * starts as soon as the last has ended; more: after a pause of up to that long, the same pauses on both sides, as
 * independent clients would pause; see the module README), {@code bench.flash-attention} (false: the model's
 * {@code flash-attention} setting on both sides).
 */
public final class GrpcVsDirectBenchmark {

    static final int SLOTS = 4;
    static final int CONTEXT = 1024;
    static final String MODEL = "bench";
    static final String PROMPT = "Write a long story about a lighthouse keeper and the sea.";

    /** The logit biases of every request (see {@link #banned}). */
    static final Map<Integer, Float> BANNED = banned(Boolean.parseBoolean(System.getProperty("bench.ascii", "true")));

    /**
     * Bans end of generation ({@code <|im_end|>}), so that every request generates its full length, and with {@code
     * ascii} the byte tokens that are not ASCII. The generated model's output is random bytes, a fifth of them the
     * first byte of a UTF-8 character: llama.cpp keeps back output that ends inside a character, so a stream would
     * miss one step in four, where a real model's English text misses almost none. ASCII output makes the streams
     * behave as real ones; {@code -Dbench.ascii=false} measures random bytes.
     */
    static Map<Integer, Float> banned(boolean ascii) {
        Map<Integer, Float> banned = new HashMap<>();
        banned.put(261, -100f);
        for (int id = 128; ascii && id < 256; id++) {
            banned.put(id, -100f); // the generated model's ids 0-255 are the bytes
        }
        return Map.copyOf(banned);
    }

    /**
     * {@code engineTtftNanos}: the engine's own time from taking the request in a slot to its first output (on the
     * gRPC side as the service reports it); {@code queueNanos}: the service's wait for a slot (0 in-process).
     */
    record Sample(long ttftNanos, int tokens, long engineTtftNanos, long queueNanos, long totalNanos) {

        /** From the first output to the end of the request, per token after the first. */
        double millisPerLaterToken() {
            return tokens <= 1 ? 0 : (totalNanos - ttftNanos) / 1e6 / (tokens - 1);
        }
    }

    /** One side of one round; the times to first token of every request, in milliseconds, for pooled medians. */
    record Run(
            double tokensPerSecond,
            double[] ttftMillis,
            double cpuMillisPerKiloToken,
            double[] engineTtftMillis,
            double[] laterTokenMillis,
            double[] queueMillis,
            double serviceCompilerMillis,
            int tokens,
            Map<String, CpuTime.Sched> threads) {}

    /**
     * The length of request {@code request}: from half to one and a half times {@code tokens}, the same on both
     * sides. Streams of one length end together and start again together, locked in step, so every prompt is
     * evaluated in one batch with the others and the time to first token is a multiple of one prompt's, by chance
     * of the run; different lengths let the streams drift apart as independent clients do.
     */
    static int length(int tokens, int request) {
        return tokens / 2 + Math.floorMod(request * 7919, tokens + 1);
    }

    /** All values of all runs, pooled. */
    static double[] pooled(List<Run> runs, java.util.function.Function<Run, double[]> values) {
        return runs.stream()
                .flatMapToDouble(r -> Arrays.stream(values.apply(r)))
                .toArray();
    }

    /** CPU time of this JVM plus, when given, of the service process: what a run costs the machine. */
    static long cpuNanos(ProcessHandle service) {
        long own =
                ProcessHandle.current().info().totalCpuDuration().orElseThrow().toNanos();
        return own
                + (service == null
                        ? 0
                        : service.info().totalCpuDuration().orElseThrow().toNanos());
    }

    public static void main(String[] args) throws Exception {
        int width = Integer.getInteger("bench.width", 256);
        int layers = Integer.getInteger("bench.layers", 4);
        int tokens = Integer.getInteger("bench.tokens", 200);
        int rounds = Integer.getInteger("bench.rounds", 3);
        int requests = Integer.getInteger("bench.requests", 4);
        int[] concurrencies = Arrays.stream(
                        System.getProperty("bench.concurrency", "1,2,4").split(","))
                .mapToInt(Integer::parseInt)
                .toArray();

        Path dir = Files.createDirectories(Path.of("target", "bench"));
        Path model = dir.resolve("bench-" + width + "x" + layers + ".gguf").toAbsolutePath();
        if (!Files.exists(model)) {
            TinyLlamaModel.write(
                    TinyLlamaSpec.defaults()
                            .withEmbeddingLength(width)
                            .withHeadCount(Math.max(4, width / 64))
                            .withHeadCountKv(Math.max(2, width / 128))
                            .withFeedForwardLength(width * 2)
                            .withBlockCount(layers)
                            .withContextLength(CONTEXT),
                    model);
        }
        Path natives = dir.resolve("native").toAbsolutePath();
        long think = TimeUnit.MILLISECONDS.toNanos(Long.getLong("bench.think-ms", 0));
        boolean flashAttention = Boolean.getBoolean("bench.flash-attention");
        System.out.printf(
                "model %s (%d bytes), %d slots, %d tokens per request, %d rounds x %d requests per stream, pauses up to"
                        + " %d ms, flash attention %s%n",
                model.getFileName(),
                Files.size(model),
                SLOTS,
                tokens,
                rounds,
                requests,
                TimeUnit.NANOSECONDS.toMillis(think),
                flashAttention ? "on" : "off");

        LlamaCppEngine.prepareNativeLibrary(Optional.empty(), natives);
        var settings = new ModelSettings(MODEL, model, SLOTS, CONTEXT, 1, 0, false, 1, flashAttention);
        InferenceEngine engine = LlamaCppEngine.load(settings);
        engine.warmUp();

        try (var service = ServiceProcess.builder("inference-bench", ServiceProcess.quarkusJar("inference-service"))
                .property("flatfare.inference.models." + MODEL + ".path", model.toString())
                .property("flatfare.inference.models." + MODEL + ".slots", String.valueOf(SLOTS))
                .property("flatfare.inference.models." + MODEL + ".queue", "16")
                .property("flatfare.inference.models." + MODEL + ".context", String.valueOf(CONTEXT))
                .property("flatfare.inference.models." + MODEL + ".gpu-layers", "0")
                .property("flatfare.inference.models." + MODEL + ".flash-attention", String.valueOf(flashAttention))
                .property("flatfare.inference.registry.enabled", "false")
                .property("flatfare.inference.native-extract-directory", natives.toString())
                .property("quarkus.log.level", "WARN")
                .property("flatfare.inference.stream-interval", System.getProperty("bench.stream-interval", "10ms"))
                .start()) {
            service.awaitReady(Duration.ofSeconds(120));
            // Responses are handled on the channel's event loop (directExecutor): the observer only takes a
            // timestamp, and a hand-off to an executor thread per message would add a thread wake-up to every
            // measured time to first token — the load generator's cost, not the service's.
            ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", service.port())
                    .usePlaintext()
                    .directExecutor()
                    .build();
            var grpc = InferenceServiceGrpc.newStub(channel);

            // Untimed short requests warm the JIT on both sides: the gRPC path runs far more Java code per request
            // (two processes), and compiling it during the timed rounds would count against it. The service's
            // compiler time during its rounds is printed. A warm-up of 20,000 per path (10 minutes) brought it to
            // 10 ms at one stream and left the added time to first token where it was (+2.5 ms), so the default
            // stays short.
            ProcessHandle servicePid = ProcessHandle.of(service.pid()).orElseThrow();
            int warmUp = Integer.getInteger("bench.warm-up", 3000);
            long warmStart = System.nanoTime();
            long compilerStart = CpuTime.compilerNanos(service.pid());
            measure(i -> CompletableFuture.completedFuture(direct(engine, 2, i)), 2, warmUp / 2, null);
            measure(i -> viaGrpc(grpc, 2, i), 2, warmUp / 2, servicePid);
            System.out.printf(
                    "warm-up: %d short requests per path in %.0f s; the service's JIT compiler threads %.0f ms%n",
                    warmUp,
                    (System.nanoTime() - warmStart) / 1e9,
                    (CpuTime.compilerNanos(service.pid()) - compilerStart) / 1e6);
            var info = InferenceServiceGrpc.newBlockingStub(channel);
            infoRoundTripMillis(info, 2000, 0);
            System.out.printf(
                    "gRPC round trip of an Info call (no model work), median of 2000 after 2000: %.3f ms%n",
                    infoRoundTripMillis(info, 2000, 0));
            System.out.printf("the same after 20 ms idle: %.3f ms%n", infoRoundTripMillis(info, 200, 20));
            Call directCall = i -> CompletableFuture.completedFuture(direct(engine, length(tokens, i), i));
            Call grpcCall = i -> viaGrpc(grpc, length(tokens, i), i);
            for (int c : concurrencies) {
                measure(directCall, c, requests, null);
                measure(grpcCall, c, requests, servicePid);
            }

            System.out.printf(
                    "%n%-11s %14s %14s %7s   %14s %14s %9s   %21s%n",
                    "concurrency",
                    "direct tok/s",
                    "gRPC tok/s",
                    "ratio",
                    "direct TTFT",
                    "gRPC TTFT",
                    "added",
                    "CPU ms/1k tok (d/g)");
            for (int c : concurrencies) {
                List<Run> direct = new ArrayList<>();
                List<Run> remote = new ArrayList<>();
                for (int r = 0; r < rounds; r++) {
                    // ABBA order: neither path always runs first, after the other has warmed the caches.
                    if (r % 2 == 0) {
                        direct.add(measure(directCall, c, requests, null, think));
                        remote.add(measure(grpcCall, c, requests, servicePid, think));
                    } else {
                        remote.add(measure(grpcCall, c, requests, servicePid, think));
                        direct.add(measure(directCall, c, requests, null, think));
                    }
                }
                double directTps =
                        median(direct.stream().mapToDouble(Run::tokensPerSecond).toArray());
                double grpcTps =
                        median(remote.stream().mapToDouble(Run::tokensPerSecond).toArray());
                double directTtft = median(pooled(direct, Run::ttftMillis));
                double grpcTtft = median(pooled(remote, Run::ttftMillis));
                double directCpu = median(
                        direct.stream().mapToDouble(Run::cpuMillisPerKiloToken).toArray());
                double grpcCpu = median(
                        remote.stream().mapToDouble(Run::cpuMillisPerKiloToken).toArray());
                System.out.printf(
                        "%-11d %14.0f %14.0f %6.3fx   %11.2f ms %11.2f ms %+6.2f ms   %10.0f %10.0f%n",
                        c,
                        directTps,
                        grpcTps,
                        grpcTps / directTps,
                        directTtft,
                        grpcTtft,
                        grpcTtft - directTtft,
                        directCpu,
                        grpcCpu);
                System.out.printf(
                        "%-11s engine's own time to first token (slot to first output): direct %.2f ms, gRPC %.2f ms;"
                                + " the service's queue %.2f ms; its JIT compiler threads %.0f ms in all its rounds%n",
                        "",
                        median(pooled(direct, Run::engineTtftMillis)),
                        median(pooled(remote, Run::engineTtftMillis)),
                        median(pooled(remote, Run::queueMillis)),
                        remote.stream().mapToDouble(Run::serviceCompilerMillis).sum());
                System.out.printf(
                        "%-11s time to first token p10 / p25 / p50 / p75 / p90: direct %s, gRPC %s%n",
                        "", spread(pooled(direct, Run::ttftMillis)), spread(pooled(remote, Run::ttftMillis)));
                System.out.printf(
                        "%-11s after the first output, ms per token to the end of the request (median): direct %.3f,"
                                + " gRPC %.3f%n",
                        "",
                        median(pooled(direct, Run::laterTokenMillis)),
                        median(pooled(remote, Run::laterTokenMillis)));
                if (Boolean.getBoolean("bench.cpu-split")) {
                    printThreads(direct, remote);
                }
            }
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        System.out.println("\ntargets: throughput >= 0.95x direct at every concurrency; added TTFT <= 2 ms (median)");
        System.exit(0);
    }

    /**
     * Starts request {@code requestNumber}; the future completes with its sample. The direct call runs to the end on
     * the calling thread (an in-process caller's natural way); the gRPC call returns at once and completes on the
     * channel's event loop, which then starts the stream's next request itself, as a non-blocking client (the
     * gateway) does: a blocking client thread would add a thread wake-up before every call, its own cost.
     */
    interface Call {
        CompletableFuture<Sample> start(int requestNumber) throws Exception;
    }

    /**
     * One stream: {@code requests} requests, each started when the one before it has ended, after a pause of up to
     * {@code maxThinkNanos} ({@link #thinkNanos}: the same pauses on both sides). An in-process stream pauses on its
     * own thread; a gRPC stream's next call is started by {@code scheduler} after the pause (without a pause, by the
     * channel's event loop at once).
     */
    static final class Stream {
        final Call call;
        final int stream;
        final int requests;
        final long maxThinkNanos;
        final ScheduledExecutorService scheduler;
        final List<Sample> samples = new ArrayList<>();
        final CompletableFuture<List<Sample>> done = new CompletableFuture<>();

        Stream(Call call, int stream, int requests, long maxThinkNanos, ScheduledExecutorService scheduler) {
            this.call = call;
            this.stream = stream;
            this.requests = requests;
            this.maxThinkNanos = maxThinkNanos;
            this.scheduler = scheduler;
        }

        /**
         * Runs from request {@code r} ({@code paused}: its pause is over): in a loop while calls end at once, from
         * their completion otherwise.
         */
        void from(int r, boolean paused) {
            try {
                while (r < requests) {
                    long pause = paused ? 0 : thinkNanos(stream * 1000 + r, maxThinkNanos);
                    paused = false;
                    if (pause > 0 && scheduler != null) {
                        int at = r;
                        scheduler.schedule(() -> from(at, true), pause, TimeUnit.NANOSECONDS);
                        return;
                    }
                    if (pause > 0) {
                        LockSupport.parkNanos(pause); // the pause is the client's think time, not a wait for a result
                    }
                    CompletableFuture<Sample> sample = call.start(stream * 1000 + r);
                    if (!sample.isDone()) {
                        int next = r + 1;
                        sample.whenComplete((value, failure) -> {
                            if (failure != null) {
                                done.completeExceptionally(failure);
                            } else {
                                samples.add(value);
                                from(next, false);
                            }
                        });
                        return;
                    }
                    samples.add(sample.join());
                    r++;
                }
                done.complete(samples);
            } catch (Exception | Error e) {
                done.completeExceptionally(e);
            }
        }
    }

    /**
     * The client's pause before request {@code requestNumber}: from 0 to {@code maxNanos}, spread evenly, the same for
     * the same request number on both sides.
     */
    static long thinkNanos(int requestNumber, long maxNanos) {
        return maxNanos <= 0 ? 0 : Math.floorMod(requestNumber * 2_654_435_761L, 1001L) * maxNanos / 1000;
    }

    /** {@code concurrency} streams, each running {@code requests} requests back to back. */
    static Run measure(Call call, int concurrency, int requests, ProcessHandle service) throws Exception {
        return measure(call, concurrency, requests, service, 0);
    }

    /** The same, each request after a pause of up to {@code maxThinkNanos} ({@link #thinkNanos}). */
    static Run measure(Call call, int concurrency, int requests, ProcessHandle service, long maxThinkNanos)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        ScheduledExecutorService scheduler =
                service == null || maxThinkNanos <= 0 ? null : Executors.newSingleThreadScheduledExecutor();
        try {
            long cpuStart = cpuNanos(service);
            long compilerStart = service == null ? 0 : CpuTime.compilerNanos(service.pid());
            // The process that generates: the service, or this one for the in-process path.
            long generating = service == null ? ProcessHandle.current().pid() : service.pid();
            Map<String, CpuTime.Sched> threadsStart = CpuTime.schedByThreadName(generating);
            long start = System.nanoTime();
            List<CompletableFuture<List<Sample>>> streams = new ArrayList<>();
            for (int s = 0; s < concurrency; s++) {
                var stream = new Stream(call, s, requests, maxThinkNanos, scheduler);
                pool.execute(() -> stream.from(0, false));
                streams.add(stream.done);
            }
            List<Sample> all = new ArrayList<>();
            for (var stream : streams) {
                all.addAll(stream.get(30, TimeUnit.MINUTES));
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            int total = all.stream().mapToInt(Sample::tokens).sum();
            double[] ttft = all.stream().mapToDouble(s -> s.ttftNanos() / 1e6).toArray();
            double cpuMillis = (cpuNanos(service) - cpuStart) / 1e6;
            Map<String, CpuTime.Sched> threads = new TreeMap<>(CpuTime.schedByThreadName(generating));
            threadsStart.forEach((name, earlier) -> threads.computeIfPresent(name, (n, now) -> now.since(earlier)));
            return new Run(
                    total / seconds,
                    ttft,
                    cpuMillis * 1000 / total,
                    all.stream().mapToDouble(s -> s.engineTtftNanos() / 1e6).toArray(),
                    all.stream().mapToDouble(Sample::millisPerLaterToken).toArray(),
                    all.stream().mapToDouble(s -> s.queueNanos() / 1e6).toArray(),
                    service == null ? 0 : (CpuTime.compilerNanos(service.pid()) - compilerStart) / 1e6,
                    total,
                    threads);
        } finally {
            pool.shutdownNow();
            if (scheduler != null) {
                scheduler.shutdownNow();
            }
        }
    }

    /**
     * Per 1,000 tokens, for the generating process' threads by name, in all rounds of one concurrency (this process'
     * for the in-process path, the service's for gRPC): CPU ms, ms spent runnable but waiting for a CPU (another
     * thread had it), and runs (times put on a CPU: each wake-up, and each resumption after being preempted). Names
     * under 1 CPU ms/1k tokens on both sides are left out.
     */
    static void printThreads(List<Run> direct, List<Run> remote) {
        Map<String, double[]> perKilo = new TreeMap<>();
        List<List<Run>> sides = List.of(direct, remote);
        for (int side = 0; side < 2; side++) {
            List<Run> runs = sides.get(side);
            long tokens = runs.stream().mapToLong(Run::tokens).sum();
            for (Run run : runs) {
                for (var thread : run.threads().entrySet()) {
                    double[] values = perKilo.computeIfAbsent(thread.getKey(), name -> new double[6]);
                    values[side] += thread.getValue().runNanos() / 1e6 * 1000 / tokens;
                    values[2 + side] += thread.getValue().waitNanos() / 1e6 * 1000 / tokens;
                    values[4 + side] += thread.getValue().timeslices() * 1000.0 / tokens;
                }
            }
        }
        // llama.cpp's own thread takes its name from the thread that loaded the model: "java" here, "model-loader"
        // in the service.
        System.out.printf(
                "%-11s   per 1k tokens, by thread name %-15s %15s %15s %15s%n",
                "", "", "CPU ms (d/g)", "waiting ms", "runs");
        perKilo.forEach((name, v) -> {
            if (Math.max(v[0], v[1]) >= 1) {
                System.out.printf(
                        "%-11s     %-44s %7.0f %7.0f %7.0f %7.0f %7.0f %7.0f%n",
                        "", name, v[0], v[1], v[2], v[3], v[4], v[5]);
            }
        });
    }

    static Sample direct(InferenceEngine engine, int tokens, int seed) {
        var request = new GenerationRequest(
                "bench-" + seed,
                null,
                PROMPT,
                tokens,
                null,
                null,
                null,
                (long) seed,
                List.of(),
                null,
                null,
                BANNED,
                1,
                GenerationRequest.ResponseFormat.TEXT,
                0,
                false,
                null,
                null);
        long start = System.nanoTime();
        long[] first = {0};
        var prepared = engine.prepare(request);
        var result = engine.stream(
                prepared,
                new GenerationSink() {
                    @Override
                    public void onDelta(int index, String text) {
                        if (first[0] == 0) {
                            first[0] = System.nanoTime();
                        }
                    }

                    @Override
                    public void onChoiceFinished(int index, FinishReason reason) {}
                },
                CancellationSignal.NEVER);
        return new Sample(
                first[0] - start,
                result.completionTokens(),
                result.timeToFirstTokenNanos(),
                0,
                System.nanoTime() - start);
    }

    static CompletableFuture<Sample> viaGrpc(InferenceServiceGrpc.InferenceServiceStub grpc, int tokens, int seed)
            throws Exception {
        var request = GenerateRequest.newBuilder()
                .setRequestId("bench-" + seed)
                .setModel(MODEL)
                .setPrompt(PROMPT)
                .setSampling(SamplingParams.newBuilder()
                        .setMaxTokens(tokens)
                        .setSeed(seed)
                        .putAllLogitBias(BANNED))
                .build();
        var done = new CompletableFuture<Sample>();
        long start = System.nanoTime();
        grpc.withDeadlineAfter(120, TimeUnit.SECONDS).generate(request, new StreamObserver<>() {
            long first;

            @Override
            public void onNext(GenerateResponse value) {
                if (first == 0 && value.hasDelta()) {
                    first = System.nanoTime();
                }
                if (value.hasDone()) {
                    done.complete(new Sample(
                            first - start,
                            value.getDone().getUsage().getCompletionTokens(),
                            value.getDone().getTimeToFirstTokenMicros() * 1_000,
                            value.getDone().getQueueMicros() * 1_000,
                            System.nanoTime() - start));
                }
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {}
        });
        return done;
    }

    /**
     * The median round trip of an empty {@code Info} call, each after {@code idleMillis} without calls (0: back to
     * back): what a call costs with no model work in it, the floor under any added time to first token.
     */
    static double infoRoundTripMillis(
            InferenceServiceGrpc.InferenceServiceBlockingStub grpc, int calls, long idleMillis)
            throws InterruptedException {
        double[] millis = new double[calls];
        for (int i = 0; i < calls; i++) {
            if (idleMillis > 0) {
                Thread.sleep(idleMillis); // the idle gap is what is measured, not a wait for a condition
            }
            long start = System.nanoTime();
            grpc.info(InfoRequest.getDefaultInstance());
            millis[i] = (System.nanoTime() - start) / 1e6;
        }
        return median(millis);
    }

    /** Deciles and quartiles in milliseconds: with several streams the distribution has a mode per prompt batch. */
    static String spread(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return String.format(
                "%.1f / %.1f / %.1f / %.1f / %.1f",
                sorted[n / 10], sorted[n / 4], median(sorted), sorted[n * 3 / 4], sorted[n * 9 / 10]);
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
