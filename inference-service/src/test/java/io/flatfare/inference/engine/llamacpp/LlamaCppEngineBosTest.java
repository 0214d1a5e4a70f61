package io.flatfare.inference.engine.llamacpp;

import static io.flatfare.inference.engine.llamacpp.TestModels.stream;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import de.kherud.llama.LlamaModel;
import io.flatfare.inference.engine.CancellationSignal;
import io.flatfare.inference.engine.FinishReason;
import io.flatfare.inference.engine.GenerationRequest.ChatMessage;
import io.flatfare.inference.engine.ModelSettings;
import io.flatfare.inference.engine.llamacpp.TestModels.Request;
import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A model that adds BOS (as most real models do): the tiny model with {@code tokenizer.ggml.add_bos_token} set
 * to true. Prompt token counts include the BOS the engine sends; for embeddings, where llama.cpp tokenizes the
 * string itself, the count matches llama.cpp's own (checked against its batch-size limit).
 */
class LlamaCppEngineBosTest {

    private static final int CONTEXT = 64;
    private static Path model;
    private static LlamaCppEngine generation;
    private static LlamaCppEngine embeddings;

    @BeforeAll
    static void load() throws IOException {
        TestModels.prepareNative();
        model = withAddBos(TestModels.tinyModel(), TestModels.DIR.resolve("tiny-bos.gguf"));
        generation = LlamaCppEngine.load(new ModelSettings("bos", model, 1, CONTEXT, 1, -1, false, 1, false));
        embeddings = LlamaCppEngine.load(new ModelSettings("bos-embed", model, 1, CONTEXT, 1, -1, true, 1, false));
    }

    @AfterAll
    static void close() {
        if (generation != null) {
            generation.close();
        }
        if (embeddings != null) {
            embeddings.close();
        }
    }

    @Test
    void promptsCountTheirBos() {
        assertThat(generation.countTokens("abc")).isEqualTo(4);
        assertThat(generation.prepare(Request.prompt("abc").build()).promptTokens())
                .isEqualTo(4);
        var chat = generation.prepare(
                Request.chat(new ChatMessage("user", "hi", null)).build());
        String text = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n";
        assertThat(chat.prompt()).isEqualTo(text);
        int specials = 3;
        int bytes = text.replace("<|im_start|>", "").replace("<|im_end|>", "").length();
        assertThat(chat.promptTokens()).isEqualTo(1 + specials + bytes);
    }

    @Test
    void theContextCheckCountsTheBos() {
        // 62 characters + BOS + 1 output token = 64: fits exactly.
        var run = stream(
                generation, Request.prompt("x".repeat(62)).maxTokens(1).noEos().build());
        assertThat(run.result().promptTokens()).isEqualTo(63);
        assertThat(run.sink().finishes()).containsExactly(Map.entry(0, FinishReason.LENGTH));
        assertThatThrownBy(() -> generation.prepare(
                        Request.prompt("x".repeat(63)).maxTokens(1).build()))
                .hasMessageContaining("64");
    }

    @Test
    void embeddingCountsMatchLlamaCppsOwnTokenization() throws Exception {
        String fits = "z".repeat(CONTEXT - 1); // + BOS = the context
        String tooLong = "z".repeat(CONTEXT);

        assertThat(embeddings.embed(List.of(fits), 0, CancellationSignal.NEVER).promptTokens())
                .isEqualTo(CONTEXT);
        assertThatThrownBy(() -> embeddings.embed(List.of(tooLong), 0, CancellationSignal.NEVER))
                .hasMessageContaining("65 tokens");
        // llama.cpp agrees: its physical batch is the context, and it refuses the longer input (an error, not an
        // abort), so it counted the BOS too.
        LlamaModel nativeModel = nativeModel(embeddings);
        assertThat(nativeModel.embed(fits)).hasSize(64);
        assertThatThrownBy(() -> nativeModel.embed(tooLong)).hasMessageContaining("too large");
    }

    private static LlamaModel nativeModel(LlamaCppEngine engine) throws ReflectiveOperationException {
        Field field = LlamaCppEngine.class.getDeclaredField("model");
        field.setAccessible(true);
        return (LlamaModel) field.get(engine);
    }

    /** The model file with its add_bos_token flag (a GGUF bool right after the key and its type) set to true. */
    private static Path withAddBos(Path source, Path target) throws IOException {
        byte[] bytes = Files.readAllBytes(source);
        byte[] key = "tokenizer.ggml.add_bos_token".getBytes(StandardCharsets.US_ASCII);
        int at = NativeLibrary.indexOf(bytes, key);
        assertThat(at).isPositive();
        int typeAt = at + key.length;
        assertThat(bytes[typeAt]).as("GGUF type BOOL").isEqualTo((byte) 7);
        assertThat(bytes[typeAt + 4]).as("false").isZero();
        bytes[typeAt + 4] = 1;
        return Files.write(target, bytes);
    }
}
