package io.flatfare.inference.gguf;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import java.util.function.Supplier;

/**
 * A llama-architecture model with random weights, a byte-level tokenizer and a ChatML chat template, made
 * by the project itself so that tests and demos need no downloaded model.
 *
 * <p>The same {@link TinyLlamaSpec} always gives the same bytes: nothing depends on time, locale or JVM, and
 * each tensor draws from its own {@link SplittableRandom} seeded from the spec's seed and the tensor's name.
 * Matrices are normal(0, {@value #WEIGHT_STD}); norm weights are 1.
 */
public final class TinyLlamaModel {

    public static final String ARCHITECTURE = "llama";
    public static final double WEIGHT_STD = 0.02;
    public static final float RMS_EPSILON = 1e-5f;
    public static final float ROPE_FREQ_BASE = 10_000f;

    /** The usual ChatML template (as Hugging Face ships it); llama.cpp recognises it as {@code chatml}. */
    public static final String CHATML_TEMPLATE = "{% for message in messages %}"
            + "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
            + "{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private TinyLlamaModel() {}

    /** Writes the model described by {@code spec} to {@code path}; returns the file size. */
    public static long write(TinyLlamaSpec spec, Path path) throws IOException {
        return writer(spec).write(path);
    }

    /** A writer holding the model's metadata and (lazily generated) tensors. */
    public static GgufWriter writer(TinyLlamaSpec spec) {
        GgufWriter w = new GgufWriter();
        int vocab = ByteLevelVocab.size();

        w.putString("general.architecture", ARCHITECTURE);
        w.putString("general.name", spec.name());
        // llama_ftype: 0 = all F32, 1 = mostly F16.
        w.putUint32("general.file_type", spec.weightType() == GgmlType.F32 ? 0 : 1);

        w.putUint32("llama.vocab_size", vocab);
        w.putUint32("llama.context_length", spec.contextLength());
        w.putUint32("llama.embedding_length", spec.embeddingLength());
        w.putUint32("llama.block_count", spec.blockCount());
        w.putUint32("llama.feed_forward_length", spec.feedForwardLength());
        w.putUint32("llama.attention.head_count", spec.headCount());
        w.putUint32("llama.attention.head_count_kv", spec.headCountKv());
        w.putFloat32("llama.attention.layer_norm_rms_epsilon", RMS_EPSILON);
        w.putUint32("llama.rope.dimension_count", spec.headSize());
        w.putFloat32("llama.rope.freq_base", ROPE_FREQ_BASE);

        // Byte-level BPE without merges: one token per UTF-8 byte (see ByteLevelVocab).
        w.putString("tokenizer.ggml.model", "gpt2");
        // A known pre-tokenizer that llama.cpp splits with its own code: GPT-2's. Those it has no code for (Qwen2's,
        // among others) go through std::regex objects built for every fragment between special tokens (about 0.5 ms
        // each; 2.6-3.4 ms for a 139-token ChatML prompt, against some 30 µs here), with the same token ids (no
        // merges: one token per byte whatever the split).
        w.putString("tokenizer.ggml.pre", "gpt-2");
        w.putStringArray("tokenizer.ggml.tokens", ByteLevelVocab.tokens());
        w.putInt32Array("tokenizer.ggml.token_type", ByteLevelVocab.tokenTypes());
        w.putStringArray("tokenizer.ggml.merges", List.of());
        w.putUint32("tokenizer.ggml.bos_token_id", ByteLevelVocab.BOS);
        // <|im_end|> ends a turn and the sequence: the only end-of-generation token (as in Qwen's GGUFs), so
        // llama.cpp's ignore_eos (which masks only the EOS id) really generates n_predict tokens.
        w.putUint32("tokenizer.ggml.eos_token_id", ByteLevelVocab.EOS);
        w.putUint32("tokenizer.ggml.eot_token_id", ByteLevelVocab.IM_END);
        w.putUint32("tokenizer.ggml.unknown_token_id", ByteLevelVocab.UNK);
        w.putUint32("tokenizer.ggml.padding_token_id", ByteLevelVocab.PAD);
        w.putBool("tokenizer.ggml.add_bos_token", false);
        w.putBool("tokenizer.ggml.add_eos_token", false);
        w.putString("tokenizer.chat_template", CHATML_TEMPLATE);

        int embd = spec.embeddingLength();
        int kv = spec.headSize() * spec.headCountKv();
        int ff = spec.feedForwardLength();
        GgmlType matrix = spec.weightType();

        random(w, spec, "token_embd.weight", matrix, embd, vocab);
        ones(w, "output_norm.weight", embd);
        random(w, spec, "output.weight", matrix, embd, vocab);
        for (int layer = 0; layer < spec.blockCount(); layer++) {
            String blk = "blk." + layer + ".";
            ones(w, blk + "attn_norm.weight", embd);
            random(w, spec, blk + "attn_q.weight", matrix, embd, embd);
            random(w, spec, blk + "attn_k.weight", matrix, embd, kv);
            random(w, spec, blk + "attn_v.weight", matrix, embd, kv);
            random(w, spec, blk + "attn_output.weight", matrix, embd, embd);
            ones(w, blk + "ffn_norm.weight", embd);
            random(w, spec, blk + "ffn_gate.weight", matrix, embd, ff);
            random(w, spec, blk + "ffn_up.weight", matrix, embd, ff);
            random(w, spec, blk + "ffn_down.weight", matrix, ff, embd);
        }
        return w;
    }

    private static void ones(GgufWriter w, String name, long n) {
        w.addTensor(name, GgmlType.F32, new long[] {n}, () -> () -> 1.0);
    }

    private static void random(GgufWriter w, TinyLlamaSpec spec, String name, GgmlType type, long ne0, long ne1) {
        long seed = tensorSeed(spec.seed(), name);
        Supplier<DoubleSupplier> data = () -> new Gaussian(new SplittableRandom(seed), WEIGHT_STD);
        w.addTensor(name, type, new long[] {ne0, ne1}, data);
    }

    /** The model seed mixed with a 64-bit FNV-1a hash of the tensor name. */
    static long tensorSeed(long seed, String name) {
        long hash = 0xcbf29ce484222325L;
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            hash ^= b & 0xFF;
            hash *= 0x100000001b3L;
        }
        return seed * 0x9E3779B97F4A7C15L ^ hash;
    }

    /**
     * Normal deviates by the Box-Muller transform over {@link SplittableRandom#nextDouble()}, whose algorithm
     * is fixed, and {@link StrictMath} (bit-for-bit the same everywhere); {@code nextGaussian()} is left alone
     * because its algorithm may differ between JDKs.
     */
    private static final class Gaussian implements DoubleSupplier {
        private final SplittableRandom random;
        private final double std;
        private double spare;
        private boolean hasSpare;

        Gaussian(SplittableRandom random, double std) {
            this.random = random;
            this.std = std;
        }

        @Override
        public double getAsDouble() {
            if (hasSpare) {
                hasSpare = false;
                return spare;
            }
            double u1 = 1.0 - random.nextDouble(); // (0, 1]
            double u2 = random.nextDouble();
            double r = StrictMath.sqrt(-2.0 * StrictMath.log(u1)) * std;
            double theta = 2.0 * Math.PI * u2;
            spare = r * StrictMath.sin(theta);
            hasSpare = true;
            return r * StrictMath.cos(theta);
        }
    }
}
