package io.flatfare.inference.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The generated model: deterministic, and carrying the keys and tensors llama.cpp needs. */
class TinyLlamaModelTest {

    private static final Path DIR = Path.of("target", "tiny-model-test");
    private static Path model;
    private static GgufFile file;

    @BeforeAll
    static void writeDefaultModel() throws IOException {
        Files.createDirectories(DIR);
        model = DIR.resolve("default.gguf");
        TinyLlamaModel.write(TinyLlamaSpec.defaults(), model);
        file = GgufReader.read(model);
    }

    @Test
    void sameSeedAndSizesGiveTheSameBytes() throws IOException {
        Path again = DIR.resolve("default-again.gguf");
        TinyLlamaModel.write(TinyLlamaSpec.defaults(), again);

        assertThat(Files.mismatch(model, again)).isEqualTo(-1L);
    }

    @Test
    void anotherSeedGivesOtherWeightsButTheSameLayout() throws IOException {
        Path other = DIR.resolve("seed-7.gguf");
        TinyLlamaModel.write(TinyLlamaSpec.defaults().withSeed(7), other);

        assertThat(Files.mismatch(model, other)).isNotEqualTo(-1L);
        assertThat(Files.size(other)).isEqualTo(Files.size(model));
        GgufFile otherFile = GgufReader.read(other);
        assertThat(otherFile.metadata()).isEqualTo(file.metadata());
        assertThat(otherFile.tensors()).isEqualTo(file.tensors());
        assertThat(GgufReader.readF32(other, otherFile, "token_embd.weight"))
                .isNotEqualTo(GgufReader.readF32(model, file, "token_embd.weight"));
    }

    @Test
    void metadataDescribesALlamaWithByteLevelTokenizerAndChatml() {
        assertThat(file.version()).isEqualTo(3);
        assertThat(file.alignment()).isEqualTo(32);
        assertThat(file.dataOffset() % 32).isZero();
        assertThat(file.metadata())
                .containsEntry("general.architecture", "llama")
                .containsEntry("general.name", "flatfare-tiny")
                .containsEntry("general.file_type", 0L)
                .containsEntry("llama.vocab_size", 262L)
                .containsEntry("llama.context_length", 2048L)
                .containsEntry("llama.embedding_length", 64L)
                .containsEntry("llama.block_count", 2L)
                .containsEntry("llama.feed_forward_length", 128L)
                .containsEntry("llama.attention.head_count", 4L)
                .containsEntry("llama.attention.head_count_kv", 2L)
                .containsEntry("llama.attention.layer_norm_rms_epsilon", 1e-5f)
                .containsEntry("llama.rope.dimension_count", 16L)
                .containsEntry("tokenizer.ggml.model", "gpt2")
                .containsEntry("tokenizer.ggml.pre", "gpt-2")
                .containsEntry("tokenizer.ggml.merges", List.of())
                .containsEntry("tokenizer.ggml.bos_token_id", 256L)
                .containsEntry("tokenizer.ggml.eos_token_id", 261L)
                .containsEntry("tokenizer.ggml.eot_token_id", 261L)
                .containsEntry("tokenizer.ggml.add_bos_token", false)
                .containsEntry("tokenizer.chat_template", TinyLlamaModel.CHATML_TEMPLATE);
        assertThat(TinyLlamaModel.CHATML_TEMPLATE)
                .contains("<|im_start|>", "<|im_end|>", "add_generation_prompt", "message['role']");

        @SuppressWarnings("unchecked")
        List<String> tokens = (List<String>) file.metadata().get("tokenizer.ggml.tokens");
        @SuppressWarnings("unchecked")
        List<Long> types = (List<Long>) file.metadata().get("tokenizer.ggml.token_type");
        assertThat(tokens).hasSize(262).endsWith("<s>", "</s>", "<unk>", "<pad>", "<|im_start|>", "<|im_end|>");
        assertThat(types).hasSize(262);
        assertThat(types.subList(0, 256)).containsOnly(1L);
        assertThat(types.subList(256, 262)).containsExactly(3L, 3L, 2L, 3L, 3L, 3L);
    }

    @Test
    void byteTokensFollowGpt2ByteToUnicode() {
        List<String> bytes = ByteLevelVocab.tokens().subList(0, 256);
        assertThat(new HashSet<>(bytes)).hasSize(256);
        assertThat(bytes)
                .allSatisfy(t -> assertThat(t.codePointCount(0, t.length())).isEqualTo(1));
        assertThat(bytes.get('A')).isEqualTo("A");
        assertThat(bytes.get('~')).isEqualTo("~");
        assertThat(bytes.get(0)).isEqualTo("\u0100");
        assertThat(bytes.get(' ')).isEqualTo("Ġ");
        assertThat(bytes.get('\n')).isEqualTo("Ċ");
        assertThat(bytes.get(0xAD)).isEqualTo("Ń");
        assertThat(bytes.get(0xFF)).isEqualTo("ÿ");
    }

    @Test
    void tensorsHaveLlamaNamesAndShapesInnermostFirst() throws IOException {
        List<String> expected = new ArrayList<>(List.of("token_embd.weight", "output_norm.weight", "output.weight"));
        for (int i = 0; i < 2; i++) {
            for (String t : List.of(
                    "attn_norm",
                    "attn_q",
                    "attn_k",
                    "attn_v",
                    "attn_output",
                    "ffn_norm",
                    "ffn_gate",
                    "ffn_up",
                    "ffn_down")) {
                expected.add("blk." + i + "." + t + ".weight");
            }
        }
        assertThat(file.tensors()).extracting(GgufFile.TensorInfo::name).containsExactlyElementsOf(expected);
        assertThat(dims("token_embd.weight")).containsExactly(64L, 262L);
        assertThat(dims("output.weight")).containsExactly(64L, 262L);
        assertThat(dims("output_norm.weight")).containsExactly(64L);
        assertThat(dims("blk.1.attn_q.weight")).containsExactly(64L, 64L);
        assertThat(dims("blk.1.attn_k.weight")).containsExactly(64L, 32L);
        assertThat(dims("blk.1.attn_v.weight")).containsExactly(64L, 32L);
        assertThat(dims("blk.1.attn_output.weight")).containsExactly(64L, 64L);
        assertThat(dims("blk.1.ffn_gate.weight")).containsExactly(64L, 128L);
        assertThat(dims("blk.1.ffn_up.weight")).containsExactly(64L, 128L);
        assertThat(dims("blk.1.ffn_down.weight")).containsExactly(128L, 64L);
        assertThat(file.tensors()).allSatisfy(t -> {
            assertThat(t.type()).contains(GgmlType.F32);
            assertThat(t.offset() % 32).isZero();
        });

        assertThat(GgufReader.readF32(model, file, "blk.0.attn_norm.weight")).containsOnly(1f);
        assertThat(GgufReader.readF32(model, file, "output_norm.weight")).containsOnly(1f);
        float[] weights = GgufReader.readF32(model, file, "token_embd.weight");
        double sum = 0;
        double squares = 0;
        for (float w : weights) {
            sum += w;
            squares += w * w;
        }
        double mean = sum / weights.length;
        assertThat(mean).isCloseTo(0, within(0.002));
        assertThat(Math.sqrt(squares / weights.length - mean * mean)).isCloseTo(0.02, within(0.002));
    }

    @Test
    void sizesAndWeightTypeAreConfigurable() throws IOException {
        TinyLlamaSpec spec = TinyLlamaSpec.defaults()
                .withEmbeddingLength(96)
                .withBlockCount(3)
                .withHeadCount(6)
                .withHeadCountKv(3)
                .withFeedForwardLength(160)
                .withContextLength(512)
                .withName("custom")
                .withWeightType(GgmlType.F16);
        Path path = DIR.resolve("custom.gguf");
        long size = TinyLlamaModel.write(spec, path);
        GgufFile custom = GgufReader.read(path);

        assertThat(size).isEqualTo(Files.size(path));
        assertThat(custom.metadata())
                .containsEntry("general.name", "custom")
                .containsEntry("general.file_type", 1L)
                .containsEntry("llama.embedding_length", 96L)
                .containsEntry("llama.block_count", 3L)
                .containsEntry("llama.attention.head_count", 6L)
                .containsEntry("llama.attention.head_count_kv", 3L)
                .containsEntry("llama.feed_forward_length", 160L)
                .containsEntry("llama.context_length", 512L)
                .containsEntry("llama.rope.dimension_count", 16L);
        assertThat(custom.tensors()).hasSize(3 + 3 * 9);
        assertThat(custom.tensor("blk.2.attn_k.weight").orElseThrow().dims()).containsExactly(96L, 48L);
        assertThat(custom.tensor("blk.2.attn_k.weight").orElseThrow().type()).contains(GgmlType.F16);
        assertThat(custom.tensor("blk.2.ffn_norm.weight").orElseThrow().type()).contains(GgmlType.F32);
    }

    @Test
    void rejectsShapesLlamaCannotRun() {
        TinyLlamaSpec spec = TinyLlamaSpec.defaults();
        assertThatThrownBy(() -> spec.withHeadCount(5)).hasMessageContaining("multiple of head count");
        assertThatThrownBy(() -> spec.withHeadCountKv(3)).hasMessageContaining("multiple of kv head count");
        assertThatThrownBy(() -> spec.withEmbeddingLength(36).withHeadCount(4).withHeadCountKv(4))
                .hasMessageContaining("even");
        assertThatThrownBy(() -> spec.withBlockCount(0)).hasMessageContaining("positive");
    }

    private static List<Long> dims(String tensor) {
        return file.tensor(tensor).orElseThrow().dims();
    }
}
