package io.flatfare.inference.engine.llamacpp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.flatfare.inference.engine.CancellationSignal;
import io.flatfare.inference.engine.EmbeddingResult;
import io.flatfare.inference.engine.InvalidRequestException;
import io.flatfare.inference.engine.llamacpp.TestModels.Request;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The tiny model loaded in embeddings mode (last-token pooling, L2-normalised by llama.cpp). */
class LlamaCppEngineEmbeddingsTest {

    private static final int CONTEXT = 128;
    private static LlamaCppEngine engine;

    @BeforeAll
    static void load() {
        TestModels.prepareNative();
        engine = LlamaCppEngine.load(TestModels.settings("tiny-embed", 2, CONTEXT, true));
    }

    @AfterAll
    static void close() {
        if (engine != null) {
            engine.close();
        }
    }

    @Test
    void infoSaysEmbeddingsAndTheirSize() {
        assertThat(engine.info().embeddings()).isTrue();
        assertThat(engine.sweepsIdleSlots()).isFalse(); // embed names no slot: nothing to sweep by
        assertThat(engine.info().embeddingDimensions()).isEqualTo(64);
    }

    @Test
    void embedsEachInputAsAUnitVectorDeterministically() {
        EmbeddingResult first = engine.embed(List.of("hello world", "héllo 😀"), 0, CancellationSignal.NEVER);
        EmbeddingResult again = engine.embed(List.of("hello world"), 0, CancellationSignal.NEVER);

        assertThat(first.vectors()).hasSize(2);
        for (float[] vector : first.vectors()) {
            assertThat(vector).hasSize(64);
            assertThat(norm(vector)).isCloseTo(1.0, within(1e-4));
        }
        assertThat(again.vectors().get(0)).containsExactly(first.vectors().get(0));
        assertThat(Arrays.equals(first.vectors().get(0), first.vectors().get(1)))
                .isFalse();
        assertThat(first.promptTokens())
                .isEqualTo("hello world".length() + "héllo 😀".getBytes(StandardCharsets.UTF_8).length);
    }

    @Test
    void dimensionsTruncatesAndNormalisesAgain() {
        float[] full = engine.embed(List.of("truncate me"), 0, CancellationSignal.NEVER)
                .vectors()
                .get(0);
        float[] cut = engine.embed(List.of("truncate me"), 16, CancellationSignal.NEVER)
                .vectors()
                .get(0);
        float[] same = engine.embed(List.of("truncate me"), 64, CancellationSignal.NEVER)
                .vectors()
                .get(0);

        assertThat(cut).hasSize(16);
        assertThat(norm(cut)).isCloseTo(1.0, within(1e-5));
        double scale = norm(Arrays.copyOf(full, 16));
        for (int i = 0; i < 16; i++) {
            assertThat((double) cut[i]).isCloseTo(full[i] / scale, within(1e-5));
        }
        assertThat(same).containsExactly(full);
    }

    @Test
    void badInputsAreInvalidRequests() {
        assertInvalid("dimensions", () -> engine.embed(List.of("x"), 65, CancellationSignal.NEVER));
        assertInvalid("dimensions", () -> engine.embed(List.of("x"), -1, CancellationSignal.NEVER));
        assertInvalid("input", () -> engine.embed(List.of(), 0, CancellationSignal.NEVER));
        assertInvalid("input", () -> engine.embed(List.of("ok", ""), 0, CancellationSignal.NEVER));
        assertInvalid("input", () -> engine.embed(Arrays.asList("ok", null), 0, CancellationSignal.NEVER));
        assertThatThrownBy(() -> engine.embed(List.of("z".repeat(CONTEXT + 1)), 0, CancellationSignal.NEVER))
                .isInstanceOfSatisfying(InvalidRequestException.class, e -> {
                    assertThat(e.param()).isEqualTo("input");
                    assertThat(e.code()).isEqualTo("context_length_exceeded");
                });
        // Exactly the context is fine.
        assertThat(engine.embed(List.of("z".repeat(CONTEXT)), 0, CancellationSignal.NEVER)
                        .promptTokens())
                .isEqualTo(CONTEXT);
    }

    @Test
    void generationIsRefusedInEmbeddingsMode() {
        assertInvalid(
                "model", () -> engine.prepare(Request.prompt("hi").maxTokens(2).build()));
    }

    @Test
    void aCancelledCallThrowsCancellation() {
        assertThatThrownBy(() -> engine.embed(List.of("a", "b"), 0, () -> true))
                .isInstanceOf(CancellationException.class);
        assertThat(engine.embed(List.of("after"), 0, CancellationSignal.NEVER).vectors())
                .hasSize(1);
    }

    @Test
    void warmUpEmbeds() {
        engine.warmUp();
    }

    private static void assertInvalid(String param, Runnable call) {
        assertThatThrownBy(call::run)
                .isInstanceOfSatisfying(
                        InvalidRequestException.class,
                        e -> assertThat(e.param()).isEqualTo(param));
    }

    private static double norm(float[] vector) {
        double sum = 0;
        for (float v : vector) {
            sum += (double) v * v;
        }
        return Math.sqrt(sum);
    }
}
