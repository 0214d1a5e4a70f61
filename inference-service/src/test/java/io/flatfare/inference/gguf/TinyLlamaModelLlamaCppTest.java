package io.flatfare.inference.gguf;

import static org.assertj.core.api.Assertions.assertThat;

import de.kherud.llama.InferenceParameters;
import de.kherud.llama.LlamaIterator;
import de.kherud.llama.LlamaModel;
import de.kherud.llama.LlamaOutput;
import de.kherud.llama.ModelParameters;
import de.kherud.llama.Pair;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The generated model in real llama.cpp (b4916, through de.kherud:llama 4.2.0): it loads, generates
 * reproducibly, tokenizes bytes, and chats through its ChatML template.
 *
 * <p>The model is loaded once for the class: the binding's {@code close()} frees no memory.
 */
class TinyLlamaModelLlamaCppTest {

    private static final Path DIR = Path.of("target", "tiny-model-llama");
    private static LlamaModel llama;

    @BeforeAll
    static void load() throws Exception {
        Files.createDirectories(DIR);
        Path model = DIR.resolve("tiny.gguf");
        TinyLlamaModel.write(TinyLlamaSpec.defaults(), model);
        // The binding extracts its library to java.io.tmpdir and, first, deletes every file there whose name
        // starts with "llama" or "jllama". Keep that inside target/.
        Path natives = Files.createDirectories(DIR.resolve("native"));
        if (System.getProperty("de.kherud.llama.tmpdir") == null) {
            System.setProperty(
                    "de.kherud.llama.tmpdir", natives.toAbsolutePath().toString());
        }

        long start = System.nanoTime();
        Class.forName(LlamaModel.class.getName()); // extracts and loads the native library
        long library = System.nanoTime();
        llama = new LlamaModel(new ModelParameters()
                .setModel(model.toAbsolutePath().toString())
                .setCtxSize(512)
                .setThreads(1)
                .setThreadsBatch(1)
                .setLogVerbosity(-1));
        long loaded = System.nanoTime();
        report("library %.0f ms, model load %.0f ms", (library - start) / 1e6, (loaded - library) / 1e6);
    }

    @AfterAll
    static void close() {
        if (llama != null) {
            llama.close(); // stops the task loop; every stream below is drained or cancelled first
        }
    }

    @Test
    void tokenizerMapsEveryUtf8ByteToItsOwnTokenAndBack() {
        String text = "héllo wörld ✓ 😀\ttab\n  two spaces, <b>Ġ</b>";

        int[] ids = llama.encode(text);

        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        int[] expected = new int[utf8.length];
        for (int i = 0; i < utf8.length; i++) {
            expected[i] = utf8[i] & 0xFF;
        }
        assertThat(ids).containsExactly(expected);
        assertThat(llama.decode(ids)).isEqualTo(text);
    }

    @Test
    void specialTokensAreParsedInPrompts() {
        assertThat(llama.encode("<|im_start|>user\nhi<|im_end|>"))
                .containsExactly(ByteLevelVocab.IM_START, 'u', 's', 'e', 'r', '\n', 'h', 'i', ByteLevelVocab.IM_END);
        assertThat(llama.decode(new int[] {ByteLevelVocab.IM_START, 'h', 'i', ByteLevelVocab.IM_END}))
                .isEqualTo("<|im_start|>hi<|im_end|>");
    }

    @Test
    void sameSeedGivesTheSameText() {
        String first = llama.complete(plain("Once upon a time", 7));
        String second = llama.complete(plain("Once upon a time", 7));
        String streamed = stream(plain("Once upon a time", 7));
        String streamedAgain = stream(plain("Once upon a time", 7));
        String otherSeed = llama.complete(plain("Once upon a time", 8));

        assertThat(first).isNotEmpty().isEqualTo(second);
        assertThat(streamed).isNotEmpty().isEqualTo(streamedAgain);
        assertThat(otherSeed).isNotEqualTo(first);
    }

    @Test
    void imEndEndsGenerationUnlessEosIsIgnored() {
        Map<Integer, Float> forceImEnd = Map.of(ByteLevelVocab.IM_END, 100f);

        assertThat(llama.complete(plain("abc", 1).setTokenIdBias(forceImEnd))).isEmpty();
        assertThat(llama.complete(plain("abc", 1).setTokenIdBias(Map.of(ByteLevelVocab.END_TAG, 100f))))
                .as("</s> is an ordinary control token: it renders as nothing but does not stop")
                .isEmpty();
        assertThat(outputs(plain("abc", 1).setTokenIdBias(Map.of(ByteLevelVocab.END_TAG, 100f))))
                .isGreaterThan(2);
        assertThat(llama.complete(plain("abc", 1).setTokenIdBias(forceImEnd).setIgnoreEos(true)))
                .isNotEmpty();
    }

    @Test
    void chatGoesThroughTheChatmlTemplate() {
        InferenceParameters chat = new InferenceParameters("")
                .setMessages(
                        "You are terse.",
                        List.of(
                                new Pair<>("user", "Hi ✓"),
                                new Pair<>("assistant", "Hello."),
                                new Pair<>("user", "Again?")));

        String prompt = llama.applyTemplate(chat);

        assertThat(prompt)
                .isEqualTo("<|im_start|>system\nYou are terse.<|im_end|>\n"
                        + "<|im_start|>user\nHi ✓<|im_end|>\n"
                        + "<|im_start|>assistant\nHello.<|im_end|>\n"
                        + "<|im_start|>user\nAgain?<|im_end|>\n"
                        + "<|im_start|>assistant\n");
        assertThat(prompt).contains("<|im_start|>user");
        assertThat(llama.encode(prompt)[0]).isEqualTo(ByteLevelVocab.IM_START);
        String answer = llama.complete(plain(prompt, 3));
        assertThat(answer).isEqualTo(llama.complete(plain(prompt, 3)));
    }

    @Test
    void measuresThroughput() {
        int tokens = 512;
        llama.complete(plain("warm up", 1).setNPredict(32).setIgnoreEos(true));

        long start = System.nanoTime();
        String text = llama.complete(plain("Speed", 2).setNPredict(tokens).setIgnoreEos(true));
        double completeSeconds = (System.nanoTime() - start) / 1e9;

        start = System.nanoTime();
        int outputs = outputs(plain("Speed", 2).setNPredict(tokens).setIgnoreEos(true));
        double streamSeconds = (System.nanoTime() - start) / 1e9;

        report(
                "%d tokens: complete %.1f ms (%.0f tokens/s), stream %.1f ms (%.0f tokens/s, %d outputs)",
                tokens,
                completeSeconds * 1e3,
                tokens / completeSeconds,
                streamSeconds * 1e3,
                tokens / streamSeconds,
                outputs);
        assertThat(text).isNotEmpty();
        assertThat(outputs).isPositive();
    }

    private static InferenceParameters plain(String prompt, int seed) {
        return new InferenceParameters(prompt).setNPredict(16).setSeed(seed).setTemperature(0.8f);
    }

    /** Streams to the end; cancels in {@code finally} so an abandoned stream never holds the slot. */
    private static String stream(InferenceParameters parameters) {
        StringBuilder text = new StringBuilder();
        LlamaIterator it = llama.generate(parameters).iterator();
        try {
            while (it.hasNext()) {
                LlamaOutput output = it.next();
                text.append(output.text);
            }
        } finally {
            it.cancel();
        }
        return text.toString();
    }

    private static int outputs(InferenceParameters parameters) {
        int n = 0;
        LlamaIterator it = llama.generate(parameters).iterator();
        try {
            while (it.hasNext()) {
                it.next();
                n++;
            }
        } finally {
            it.cancel();
        }
        return n;
    }

    private static void report(String format, Object... args) {
        System.out.println("[tiny-model] " + String.format(Locale.ROOT, format, args));
    }
}
