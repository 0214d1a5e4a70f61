package io.flatfare.inference.engine.llamacpp;

import io.flatfare.inference.engine.EngineException;
import io.flatfare.inference.gguf.GgufFile;
import io.flatfare.inference.gguf.GgufReader;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * What the engine needs from a model file before (and besides) llama.cpp: checked in Java so that a missing,
 * unreadable or corrupt file is an {@link EngineException} naming the path, never a native failure, and read for
 * what the binding does not expose (vocabulary, special tokens, BOS/EOS policy).
 */
record GgufModelFile(
        Path path,
        long size,
        String architecture,
        String name,
        int trainedContextLength,
        int embeddingLength,
        int blockCount,
        long kvBytesPerToken,
        int attentionHeads,
        List<String> tokens,
        int[] tokenTypes,
        String tokenizerModel,
        String tokenizerPre,
        Map<String, Long> specialTokenIds,
        boolean addBos,
        boolean addEos,
        String digest) {

    /** {@code llama_token_type}: a control token (never text, parsed from prompts as special). */
    static final int TYPE_CONTROL = 3;

    private static final byte[] MAGIC = "GGUF".getBytes(StandardCharsets.US_ASCII);

    /** The GGUF keys of special token ids the engine cares about. */
    static final List<String> SPECIAL_ID_KEYS = List.of(
            "tokenizer.ggml.bos_token_id",
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.eot_token_id",
            "tokenizer.ggml.eom_token_id",
            "tokenizer.ggml.fim_pad_token_id",
            "tokenizer.ggml.fim_rep_token_id",
            "tokenizer.ggml.fim_sep_token_id");

    static GgufModelFile open(Path path) {
        Path file = path.toAbsolutePath().normalize();
        if (!Files.exists(file)) {
            throw new EngineException("model file " + file + " does not exist", null);
        }
        if (!Files.isRegularFile(file)) {
            throw new EngineException("model file " + file + " is not a regular file", null);
        }
        if (!Files.isReadable(file)) {
            throw new EngineException("model file " + file + " is not readable", null);
        }
        long size;
        byte[] head = new byte[MAGIC.length];
        try (InputStream in = Files.newInputStream(file)) {
            size = Files.size(file);
            if (in.readNBytes(head, 0, head.length) != head.length || !Arrays.equals(head, MAGIC)) {
                throw new EngineException("model file " + file + " is not a GGUF file (no GGUF magic)", null);
            }
        } catch (IOException e) {
            throw new EngineException("model file " + file + " cannot be read: " + e.getMessage(), e);
        }
        GgufFile gguf;
        try {
            gguf = GgufReader.read(file);
        } catch (IOException | RuntimeException e) {
            throw new EngineException("model file " + file + " is corrupt: " + e.getMessage(), e);
        }
        if (gguf.dataOffset() > size) {
            throw new EngineException("model file " + file + " is truncated (header ends past the file)", null);
        }
        try {
            return from(file, size, gguf);
        } catch (IllegalArgumentException e) {
            throw new EngineException("model file " + file + " is not usable: " + e.getMessage(), e);
        }
    }

    private static GgufModelFile from(Path file, long size, GgufFile gguf) {
        String arch = gguf.string("general.architecture")
                .orElseThrow(() -> new IllegalArgumentException("no general.architecture"));
        List<String> tokens = stringList(gguf, "tokenizer.ggml.tokens")
                .orElseThrow(() -> new IllegalArgumentException("no tokenizer.ggml.tokens"));
        if (tokens.isEmpty()) {
            throw new IllegalArgumentException("empty vocabulary");
        }
        int[] types = new int[tokens.size()];
        Arrays.fill(types, 1);
        gguf.value("tokenizer.ggml.token_type").ifPresent(value -> {
            if (value instanceof List<?> list) {
                for (int i = 0; i < Math.min(list.size(), types.length); i++) {
                    if (list.get(i) instanceof Long l) {
                        types[i] = l.intValue();
                    }
                }
            }
        });
        Map<String, Long> special = new TreeMap<>();
        for (String key : SPECIAL_ID_KEYS) {
            gguf.integer(key).filter(id -> id >= 0 && id < tokens.size()).ifPresent(id -> special.put(key, id));
        }
        String model = gguf.string("tokenizer.ggml.model").orElse("llama");
        String pre = gguf.string("tokenizer.ggml.pre").orElse("default");
        boolean addBos = gguf.value("tokenizer.ggml.add_bos_token")
                .filter(Boolean.class::isInstance)
                .map(Boolean.class::cast)
                .orElseGet(() -> defaultAddBos(model, pre));
        boolean addEos = gguf.value("tokenizer.ggml.add_eos_token")
                .filter(Boolean.class::isInstance)
                .map(Boolean.class::cast)
                .orElseGet(() -> defaultAddEos(model));
        return new GgufModelFile(
                file,
                size,
                arch,
                gguf.string("general.name").orElse(file.getFileName().toString()),
                intKey(gguf, arch + ".context_length", 0),
                intKey(gguf, arch + ".embedding_length", 0),
                intKey(gguf, arch + ".block_count", 0),
                kvBytesPerToken(gguf, arch),
                attentionHeads(gguf, arch),
                List.copyOf(tokens),
                types,
                model,
                pre,
                Map.copyOf(special),
                addBos,
                addEos,
                digest(gguf, size));
    }

    /**
     * llama.cpp b4916's default when the file does not say ({@code llama-vocab.cpp}): SentencePiece and WordPiece
     * vocabularies add BOS (resp. CLS), byte-level BPE does only for the Llama-3 family of pre-tokenizers (whose
     * GGUFs usually carry no flag), Tekken and Chameleon; T5's Unigram and RWKV do not.
     */
    static boolean defaultAddBos(String tokenizerModel, String pre) {
        return switch (tokenizerModel) {
            case "llama", "bert" -> true;
            case "gpt2" ->
                List.of("llama3", "llama-v3", "llama-bpe", "falcon3", "tekken", "chameleon")
                        .contains(pre);
            default -> false;
        };
    }

    /** llama.cpp b4916's default: only WordPiece (SEP) and Unigram (T5's EOS) vocabularies append a token. */
    static boolean defaultAddEos(String tokenizerModel) {
        return tokenizerModel.equals("bert") || tokenizerModel.equals("t5");
    }

    /**
     * Bytes of llama.cpp's KV cache per token of context, all layers, keys and values in its default F16: per layer
     * (key length + value length) x key/value heads x 2. 0 when the file does not say enough (an architecture whose
     * cache is laid out otherwise). An estimate for messages about memory, never a limit.
     */
    static long kvBytesPerToken(GgufFile gguf, String arch) {
        int layers = intKey(gguf, arch + ".block_count", 0);
        long[] heads = perLayer(gguf, arch + ".attention.head_count", layers);
        if (heads == null) {
            return 0;
        }
        long[] kvHeads = perLayer(gguf, arch + ".attention.head_count_kv", layers);
        int embedding = intKey(gguf, arch + ".embedding_length", 0);
        Optional<Long> keyLength = gguf.integer(arch + ".attention.key_length");
        Optional<Long> valueLength = gguf.integer(arch + ".attention.value_length");
        long bytes = 0;
        for (int layer = 0; layer < layers; layer++) {
            if (heads[layer] <= 0) {
                continue;
            }
            long headSize = embedding / heads[layer];
            long kvHeadsOfLayer = kvHeads == null ? heads[layer] : kvHeads[layer];
            bytes += (keyLength.orElse(headSize) + valueLength.orElse(headSize)) * kvHeadsOfLayer * 2;
        }
        return bytes;
    }

    /** The most attention heads of any layer ({@code <arch>.attention.head_count}), 0 when the file does not say. */
    static int attentionHeads(GgufFile gguf, String arch) {
        long[] heads = perLayer(gguf, arch + ".attention.head_count", intKey(gguf, arch + ".block_count", 0));
        return heads == null
                ? 0
                : (int) Math.min(Integer.MAX_VALUE, Arrays.stream(heads).max().orElse(0));
    }

    /** A per-layer count that GGUF stores as one number or as one per layer; null when absent or malformed. */
    private static long[] perLayer(GgufFile gguf, String key, int layers) {
        if (layers == 0) {
            return null;
        }
        Object value = gguf.value(key).orElse(null);
        long[] counts = new long[layers];
        if (value instanceof Long count) {
            Arrays.fill(counts, count);
            return counts;
        }
        if (value instanceof List<?> list && list.size() == layers) {
            for (int i = 0; i < layers; i++) {
                if (!(list.get(i) instanceof Long count)) {
                    return null;
                }
                counts[i] = count;
            }
            return counts;
        }
        return null;
    }

    int vocabularySize() {
        return tokens.size();
    }

    Optional<Integer> specialId(String key) {
        return Optional.ofNullable(specialTokenIds.get(key)).map(Long::intValue);
    }

    /** Ids of control tokens (their text in a prompt is parsed as the token). */
    List<Integer> controlTokenIds() {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < tokenTypes.length; i++) {
            if (tokenTypes[i] == TYPE_CONTROL) {
                ids.add(i);
            }
        }
        return ids;
    }

    private static Optional<List<String>> stringList(GgufFile gguf, String key) {
        return gguf.value(key).filter(List.class::isInstance).map(value -> {
            List<String> strings = new ArrayList<>();
            for (Object element : (List<?>) value) {
                if (!(element instanceof String s)) {
                    throw new IllegalArgumentException(key + " holds a non-string");
                }
                strings.add(s);
            }
            return strings;
        });
    }

    private static int intKey(GgufFile gguf, String key, int fallback) {
        return gguf.integer(key)
                .filter(v -> v > 0 && v <= Integer.MAX_VALUE)
                .map(Long::intValue)
                .orElse(fallback);
    }

    /** A digest of the metadata and tensor layout (not the weights: hashing tens of GB at load is too slow). */
    private static String digest(GgufFile gguf, long size) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(Long.toString(size).getBytes(StandardCharsets.UTF_8));
            for (var entry : gguf.metadata().entrySet()) {
                sha.update(entry.getKey().getBytes(StandardCharsets.UTF_8));
                sha.update(String.valueOf(entry.getValue()).getBytes(StandardCharsets.UTF_8));
            }
            for (var tensor : gguf.tensors()) {
                sha.update((tensor.name() + tensor.dims() + tensor.typeId() + "@" + tensor.offset())
                        .getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
