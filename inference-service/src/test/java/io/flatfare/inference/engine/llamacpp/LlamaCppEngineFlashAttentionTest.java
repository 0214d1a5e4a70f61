package io.flatfare.inference.engine.llamacpp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.flatfare.inference.engine.CancellationSignal;
import io.flatfare.inference.engine.FinishReason;
import io.flatfare.inference.engine.ModelSettings;
import io.flatfare.inference.engine.llamacpp.TestModels.Request;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A model loaded with llama.cpp's flash attention ({@link ModelSettings#flashAttention()}), generating and embedding,
 * against the same model without it. Flash attention computes attention in another order and precision, so an
 * embedding differs from the plain one in its last bits: that difference shows the setting reached llama.cpp.
 */
class LlamaCppEngineFlashAttentionTest {

    private static final int CONTEXT = 512;
    private static final List<LlamaCppEngine> ENGINES = new ArrayList<>();

    private static LlamaCppEngine generating;
    private static LlamaCppEngine plainGenerating;
    private static LlamaCppEngine embedding;
    private static LlamaCppEngine plainEmbedding;

    @BeforeAll
    static void load() {
        TestModels.prepareNative();
        generating = load("tiny-fa", false, true);
        plainGenerating = load("tiny", false, false);
        embedding = load("tiny-embed-fa", true, true);
        plainEmbedding = load("tiny-embed", true, false);
    }

    private static LlamaCppEngine load(String id, boolean embeddings, boolean flashAttention) {
        var engine = LlamaCppEngine.load(
                new ModelSettings(id, TestModels.tinyModel(), 2, CONTEXT, 1, -1, embeddings, 4, flashAttention));
        ENGINES.add(engine);
        return engine;
    }

    @AfterAll
    static void close() {
        ENGINES.forEach(LlamaCppEngine::close);
    }

    @Test
    void generatesWithTheSameAccountingAndTheSameTextForTheSameSeed() {
        Request request =
                Request.prompt("Once upon a time").maxTokens(40).noEos().seed(42L);

        var first = TestModels.stream(generating, request.build());
        var second = TestModels.stream(generating, request.build());

        assertThat(first.result().completionTokens()).isEqualTo(40);
        assertThat(first.result().promptTokens()).isEqualTo("Once upon a time".length());
        assertThat(first.sink().finishes()).containsEntry(0, FinishReason.LENGTH);
        assertThat(first.sink().text(0)).isNotEmpty().isEqualTo(second.sink().text(0));
    }

    @Test
    void embedsUnitVectorsCloseToThePlainOnesButComputedAnotherWay() {
        String text = "The quick brown fox jumps over the lazy dog, again and again and again.";

        float[] flash = embedding
                .embed(List.of(text), 0, CancellationSignal.NEVER)
                .vectors()
                .get(0);
        float[] again = embedding
                .embed(List.of(text), 0, CancellationSignal.NEVER)
                .vectors()
                .get(0);
        float[] plain = plainEmbedding
                .embed(List.of(text), 0, CancellationSignal.NEVER)
                .vectors()
                .get(0);

        assertThat(again).containsExactly(flash);
        assertThat(dot(flash, flash)).isCloseTo(1.0, within(1e-4));
        assertThat(dot(flash, plain)).isGreaterThan(0.999);
        assertThat(flash).isNotEqualTo(plain);
    }

    @Test
    void theFingerprintTellsTheTwoApart() {
        assertThat(generating.info().fingerprint())
                .isNotEqualTo(plainGenerating.info().fingerprint());
        assertThat(embedding.info().fingerprint())
                .isNotEqualTo(plainEmbedding.info().fingerprint());
    }

    private static double dot(float[] a, float[] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += (double) a[i] * b[i];
        }
        return sum;
    }
}
