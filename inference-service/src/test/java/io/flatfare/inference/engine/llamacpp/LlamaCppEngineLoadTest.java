package io.flatfare.inference.engine.llamacpp;

import static io.flatfare.inference.engine.llamacpp.TestModels.stream;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.flatfare.inference.engine.CancellationSignal;
import io.flatfare.inference.engine.EngineException;
import io.flatfare.inference.engine.GenerationResult;
import io.flatfare.inference.engine.InvalidRequestException;
import io.flatfare.inference.engine.ModelSettings;
import io.flatfare.inference.engine.PreparedGeneration;
import io.flatfare.inference.engine.llamacpp.TestModels.RecordingSink;
import io.flatfare.inference.engine.llamacpp.TestModels.Request;
import io.flatfare.inference.gguf.TinyLlamaModel;
import io.flatfare.inference.gguf.TinyLlamaSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Loading: missing and corrupt files fail in Java with the path named (never a JVM abort), the native library
 * lives in its own directory, and {@code close()} waits for running streams instead of hanging.
 */
class LlamaCppEngineLoadTest {

    private static final Path DIR = TestModels.DIR.resolve("load");

    @BeforeAll
    static void setUp() throws IOException {
        TestModels.prepareNative();
        Files.createDirectories(DIR);
    }

    @Test
    void theNativeLibraryIsExtractedIntoItsOwnDirectory() {
        Path library = TestModels.DIR.resolve("native").resolve(System.mapLibraryName("jllama"));

        assertThat(System.getProperty("de.kherud.llama.tmpdir")).isNotEqualTo(System.getProperty("java.io.tmpdir"));
        assertThat(LlamaCppEngine.prepareNativeLibrary(TestModels.DIR.resolve("elsewhere")))
                .as("idempotent: the first directory stays")
                .isEqualTo(Path.of(System.getProperty("de.kherud.llama.lib.path")));
        if (System.getProperty("de.kherud.llama.lib.path")
                .equals(library.getParent().toString())) {
            assertThat(library).isRegularFile();
        }
        assertThat(LlamaCppEngine.nativeGpuBackend()).isFalse();
    }

    @Test
    void aMissingFileNamesThePath() {
        Path missing = DIR.resolve("missing.gguf");

        assertThatThrownBy(() -> LlamaCppEngine.load(settings(missing)))
                .isInstanceOf(EngineException.class)
                .hasMessageContaining(missing.toAbsolutePath().toString())
                .hasMessageContaining("does not exist");
    }

    @Test
    void aDirectoryIsNotAModel() {
        assertThatThrownBy(() -> LlamaCppEngine.load(settings(DIR)))
                .isInstanceOf(EngineException.class)
                .hasMessageContaining(DIR.toAbsolutePath().toString());
    }

    @Test
    void aFileWithoutTheGgufMagicNamesThePath() throws IOException {
        Path file = Files.writeString(DIR.resolve("text.gguf"), "this is not a model");

        assertThatThrownBy(() -> LlamaCppEngine.load(settings(file)))
                .isInstanceOf(EngineException.class)
                .hasMessageContaining(file.toAbsolutePath().toString())
                .hasMessageContaining("not a GGUF file");
    }

    @Test
    void aCorruptHeaderNamesThePath() throws IOException {
        byte[] bytes = new byte[4096];
        new java.util.Random(1).nextBytes(bytes);
        System.arraycopy("GGUF".getBytes(), 0, bytes, 0, 4);
        Path file = Files.write(DIR.resolve("garbage.gguf"), bytes);

        assertThatThrownBy(() -> LlamaCppEngine.load(settings(file)))
                .isInstanceOf(EngineException.class)
                .hasMessageContaining(file.toAbsolutePath().toString())
                .hasMessageContaining("corrupt");
    }

    @Test
    void truncatedTensorDataIsRefusedByLlamaCppAndNamesThePath() throws IOException {
        byte[] model = Files.readAllBytes(TestModels.tinyModel());
        Path file = Files.write(DIR.resolve("truncated.gguf"), Arrays.copyOf(model, model.length / 2));

        assertThatThrownBy(() -> LlamaCppEngine.load(settings(file)))
                .isInstanceOf(EngineException.class)
                .hasMessageContaining(file.toAbsolutePath().toString());
        // The JVM and the library are fine: a good model still loads and runs.
        try (LlamaCppEngine engine = LlamaCppEngine.load(TestModels.settings("after-failure", 1, 64, false))) {
            assertThat(stream(engine, Request.prompt("ok").maxTokens(2).noEos().build())
                            .result()
                            .completionTokens())
                    .isEqualTo(2);
        }
    }

    @Test
    void aContextAboveTheTrainedOneIsServedAtTheTrainedOne() throws IOException {
        Path file = DIR.resolve("trained-128.gguf");
        TinyLlamaModel.write(TinyLlamaSpec.defaults().withContextLength(128), file);

        try (LlamaCppEngine engine =
                LlamaCppEngine.load(new ModelSettings("trained-128", file, 1, 1024, 1, -1, false, 1, false))) {
            assertThat(engine.info().contextLength()).isEqualTo(128);
            assertThatThrownBy(() -> engine.prepare(
                            Request.prompt("x".repeat(200)).maxTokens(1).build()))
                    .isInstanceOf(InvalidRequestException.class)
                    .hasMessageContaining("128");
            assertThat(stream(engine, Request.prompt("ok").maxTokens(2).noEos().build())
                            .result()
                            .completionTokens())
                    .isEqualTo(2);
        }
        try (LlamaCppEngine engine =
                LlamaCppEngine.load(new ModelSettings("within-128", file, 1, 96, 1, -1, false, 1, false))) {
            assertThat(engine.info().contextLength())
                    .as("a context within the trained one is kept")
                    .isEqualTo(96);
        }
    }

    @Test
    void aFailedLoadSaysHowMuchMemoryItsContextAndSlotsNeed() {
        GgufModelFile file = GgufModelFile.open(TestModels.tinyModel());
        TinyLlamaSpec spec = TinyLlamaSpec.defaults();
        long perToken = (long) spec.blockCount() * (spec.headSize() + spec.headSize()) * spec.headCountKv() * 2;
        assertThat(file.kvBytesPerToken()).isEqualTo(perToken);
        assertThat(file.attentionHeads()).isEqualTo(spec.headCount());

        int context = 1 << 20;
        long tokens = context * 16L;
        ModelSettings big = new ModelSettings("big", file.path(), 16, context, 1, -1, false, 1, false);
        String kvCache = String.format(Locale.ROOT, "about %,d MiB of KV cache", perToken * tokens >> 20);
        String scratch = String.format(
                Locale.ROOT,
                "about %,d MiB of attention scratch (512 prompt tokens at a time)",
                512 * tokens * spec.headCount() * 4 >> 20);
        String onCpu = LlamaCppEngine.loadFailure(big, file, 0, "native says no");
        assertThat(onCpu)
                .contains(
                        "model big",
                        file.path().toString(),
                        "native says no",
                        "(main memory)",
                        kvCache,
                        scratch,
                        "16777216 tokens of context (1048576 x 16 slots)");
        String withFlashAttention = LlamaCppEngine.loadFailure(
                new ModelSettings("big", file.path(), 1, 64, 1, -1, false, 1, true), file, 3, "no");
        assertThat(withFlashAttention).contains("(on the GPU, 3 layers)").doesNotContain("scratch");

        long need = file.size() + (perToken * tokens) + 512 * tokens * spec.headCount() * 4;
        assertThatThrownBy(() -> LlamaCppEngine.checkMemory(big, file, 0, need - 1))
                .isInstanceOf(EngineException.class)
                .hasMessageContaining("model big cannot be served from")
                .hasMessageContaining(kvCache)
                .hasMessageContaining(scratch);
        LlamaCppEngine.checkMemory(big, file, 0, need);
        LlamaCppEngine.checkMemory(big, file, 1, need - 1); // on the GPU: not main memory's business
    }

    @Test
    void aModelTooLargeForThisMachinesMemoryIsRefusedBeforeLlamaCppAllocatesIt() throws IOException {
        Path file = DIR.resolve("trained-16m.gguf");
        TinyLlamaModel.write(TinyLlamaSpec.defaults().withContextLength(1 << 24), file);

        // 2^30 tokens of context: terabytes of attention scratch, which llama.cpp would reserve without touching.
        assertThatThrownBy(
                        () -> LlamaCppEngine.load(new ModelSettings("huge", file, 64, 1 << 24, 1, -1, false, 1, false)))
                .isInstanceOf(EngineException.class)
                .hasMessageContaining("model huge cannot be served from")
                .hasMessageContaining("1073741824 tokens of context (16777216 x 64 slots)");
        try (LlamaCppEngine engine =
                LlamaCppEngine.load(new ModelSettings("fits", file, 1, 256, 1, -1, false, 1, false))) {
            assertThat(engine.info().contextLength()).isEqualTo(256);
        }
    }

    @Test
    void badSettingsAreRefused() {
        assertThatThrownBy(() -> LlamaCppEngine.load(
                        new ModelSettings("x", TestModels.tinyModel(), 0, 256, 1, -1, false, 1, false)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> LlamaCppEngine.load(
                        new ModelSettings("x", TestModels.tinyModel(), 1, 0, 1, -1, false, 1, false)))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void closeWaitsForARunningStreamToFinish() throws Exception {
        LlamaCppEngine engine = LlamaCppEngine.load(
                TestModels.settings("closing-waits", 1, 1024, false),
                new LlamaCppEngine.Options(4096, false, Duration.ofSeconds(30)));
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch proceed = new CountDownLatch(1);
        RecordingSink sink = new RecordingSink() {
            @Override
            public void onDelta(int index, String text) {
                super.onDelta(index, text);
                started.countDown();
                await(proceed);
            }
        };
        PreparedGeneration prepared =
                engine.prepare(Request.prompt("long").maxTokens(500).noEos().build());
        // Own platform threads: the common pool may have a single thread on a small machine.
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            CompletableFuture<GenerationResult> running = CompletableFuture.supplyAsync(
                    () -> engine.stream(prepared, sink, CancellationSignal.NEVER), threads);
            assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();

            CompletableFuture<Void> closing = CompletableFuture.runAsync(engine::close, threads);
            awaitRefusal(engine);
            // close() has begun (new work is refused) and waits for the running stream's slot.
            assertThat(closing.isDone()).isFalse();
            proceed.countDown();

            GenerationResult result = running.get(30, TimeUnit.SECONDS);
            closing.get(30, TimeUnit.SECONDS);
            assertThat(result.cancelled()).isFalse();
            assertThat(result.completionTokens()).isEqualTo(500);
            assertThat(sink.finishes())
                    .containsExactly(java.util.Map.entry(0, io.flatfare.inference.engine.FinishReason.LENGTH));
            assertThatThrownBy(() -> engine.prepare(Request.prompt("x").build()))
                    .isInstanceOf(EngineException.class)
                    .hasMessageContaining("closed");
            engine.close(); // idempotent
        } finally {
            proceed.countDown();
            threads.shutdown();
        }
    }

    @Test
    void closeStopsAStreamThatOutlastsItsTimeout() throws Exception {
        Duration timeout = Duration.ofMillis(300);
        LlamaCppEngine engine = LlamaCppEngine.load(
                TestModels.settings("closing-stops", 1, 1024, false), new LlamaCppEngine.Options(4096, false, timeout));
        CountDownLatch started = new CountDownLatch(1);
        AtomicLong closeStarted = new AtomicLong();
        RecordingSink sink = new RecordingSink() {
            @Override
            public void onDelta(int index, String text) {
                super.onDelta(index, text);
                started.countDown();
                // Hold the stream until close() has waited longer than its timeout (a condition, not a sleep).
                while (closeStarted.get() == 0 || System.nanoTime() - closeStarted.get() < timeout.toNanos() * 2) {
                    Thread.onSpinWait();
                }
            }
        };
        PreparedGeneration prepared =
                engine.prepare(Request.prompt("long").maxTokens(1000).noEos().build());
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            CompletableFuture<GenerationResult> running = CompletableFuture.supplyAsync(
                    () -> engine.stream(prepared, sink, CancellationSignal.NEVER), threads);
            assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();

            closeStarted.set(System.nanoTime());
            CompletableFuture<Void> closing = CompletableFuture.runAsync(engine::close, threads);

            GenerationResult result = running.get(30, TimeUnit.SECONDS);
            closing.get(30, TimeUnit.SECONDS);
            assertThat(result.cancelled()).isTrue();
            assertThat(result.completionTokens()).isLessThan(1000);
            assertThat(sink.finishes()).isEmpty();
        } finally {
            threads.shutdown();
        }
    }

    private static void awaitRefusal(LlamaCppEngine engine) {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!refusesWork(engine) && System.nanoTime() < until) {
            Thread.onSpinWait();
        }
        assertThat(refusesWork(engine)).isTrue();
    }

    private static void await(CountDownLatch latch) {
        try {
            if (!latch.await(30, TimeUnit.SECONDS)) {
                throw new AssertionError("not released");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static boolean refusesWork(LlamaCppEngine engine) {
        try {
            engine.countTokens("x");
            return false;
        } catch (EngineException e) {
            return true;
        }
    }

    private static ModelSettings settings(Path path) {
        return new ModelSettings("broken", path, 1, 256, 1, -1, false, 1, false);
    }
}
