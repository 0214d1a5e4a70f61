package io.flatfare.inference.gguf;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A byte-level vocabulary for llama.cpp's GPT-2 style BPE tokenizer ({@code tokenizer.ggml.model = gpt2})
 * with no merges: every UTF-8 byte is one token, so any text tokenizes and detokenizes back exactly.
 *
 * <p>Token id {@code b} (0..255) is the byte {@code b}, spelled as GPT-2's byte-to-unicode mapping spells
 * it (printable Latin-1 characters stand for themselves, the rest are shifted to U+0100 and up; a space is
 * {@code Ġ}), which is what llama.cpp's byte-level BPE looks up and what it decodes back to bytes. After
 * them come the special tokens: {@code <s>} (BOS, not added by the tokenizer), {@code </s>}, {@code <unk>},
 * {@code <pad>}, {@code <|im_start|>} and {@code <|im_end|>}. As in Qwen's ChatML models, {@code <|im_end|>}
 * is the model's EOS and EOT token and its only end-of-generation token: {@code </s>} is a plain control
 * token, so "ignore EOS" really does generate as many tokens as asked.
 */
public final class ByteLevelVocab {

    /** GGUF {@code tokenizer.ggml.token_type} values (llama_token_type). */
    public static final int TYPE_NORMAL = 1;

    public static final int TYPE_UNKNOWN = 2;
    public static final int TYPE_CONTROL = 3;

    public static final int BOS = 256;
    /** The text {@code </s>}; a control token that does not end generation (see {@link #EOS}). */
    public static final int END_TAG = 257;

    public static final int UNK = 258;
    public static final int PAD = 259;
    public static final int IM_START = 260;
    public static final int IM_END = 261;
    /** End of sequence and of turn: {@code <|im_end|>}. */
    public static final int EOS = IM_END;

    public static final String BOS_TEXT = "<s>";
    public static final String END_TAG_TEXT = "</s>";
    public static final String UNK_TEXT = "<unk>";
    public static final String PAD_TEXT = "<pad>";
    public static final String IM_START_TEXT = "<|im_start|>";
    public static final String IM_END_TEXT = "<|im_end|>";

    private static final List<String> TOKENS;
    private static final int[] TYPES;

    static {
        List<String> tokens = new ArrayList<>(IM_END + 1);
        for (int b = 0; b < 256; b++) {
            tokens.add(byteToUnicode(b));
        }
        tokens.addAll(List.of(BOS_TEXT, END_TAG_TEXT, UNK_TEXT, PAD_TEXT, IM_START_TEXT, IM_END_TEXT));
        TOKENS = Collections.unmodifiableList(tokens);
        TYPES = new int[tokens.size()];
        for (int i = 0; i < TYPES.length; i++) {
            TYPES[i] = i < 256 ? TYPE_NORMAL : i == UNK ? TYPE_UNKNOWN : TYPE_CONTROL;
        }
    }

    private ByteLevelVocab() {}

    public static int size() {
        return TOKENS.size();
    }

    /** The token texts, by id. */
    public static List<String> tokens() {
        return TOKENS;
    }

    /** The token types ({@link #TYPE_NORMAL}, ...), by id. */
    public static int[] tokenTypes() {
        return TYPES.clone();
    }

    /**
     * GPT-2's bytes_to_unicode: the bytes {@code !..~}, {@code ¡..¬} and {@code ®..ÿ} map to the code point of
     * the same value, the other 68 bytes, in order, to U+0100, U+0101, ...
     */
    static String byteToUnicode(int b) {
        if (b < 0 || b > 255) {
            throw new IllegalArgumentException("not a byte: " + b);
        }
        if (printable(b)) {
            return Character.toString(b);
        }
        int shifted = 0;
        for (int c = 0; c < b; c++) {
            if (!printable(c)) {
                shifted++;
            }
        }
        return Character.toString(256 + shifted);
    }

    private static boolean printable(int b) {
        return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    }
}
