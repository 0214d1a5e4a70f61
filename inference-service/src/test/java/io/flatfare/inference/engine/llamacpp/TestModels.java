package io.flatfare.inference.engine.llamacpp;

import io.flatfare.inference.engine.CancellationSignal;
import io.flatfare.inference.engine.FinishReason;
import io.flatfare.inference.engine.GenerationRequest;
import io.flatfare.inference.engine.GenerationRequest.ChatMessage;
import io.flatfare.inference.engine.GenerationRequest.ResponseFormat;
import io.flatfare.inference.engine.GenerationResult;
import io.flatfare.inference.engine.GenerationSink;
import io.flatfare.inference.engine.ModelSettings;
import io.flatfare.inference.gguf.TinyLlamaModel;
import io.flatfare.inference.gguf.TinyLlamaSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The generated tiny model (byte-level vocabulary: ids 0..255 are bytes, 261 {@code <|im_end|>} is EOS) and a
 * native library directory under {@code target/}: the binding deletes {@code llama*} files in its temp directory,
 * so it must never run with the shared {@code /tmp}.
 */
final class TestModels {

    static final Path DIR = Path.of("target", "engine-test").toAbsolutePath();
    static final int EOS = 261;

    private TestModels() {}

    static synchronized void prepareNative() {
        LlamaCppEngine.prepareNativeLibrary(Optional.empty(), DIR.resolve("native"));
    }

    /** The default tiny model, written once per JVM. */
    static synchronized Path tinyModel() {
        Path path = DIR.resolve("tiny.gguf");
        try {
            Files.createDirectories(DIR);
            if (!Files.exists(path)) {
                Path temp = Files.createTempFile(DIR, "tiny", ".part");
                TinyLlamaModel.write(TinyLlamaSpec.defaults(), temp);
                Files.move(temp, path, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return path;
    }

    static ModelSettings settings(String id, int slots, int context, boolean embeddings) {
        return new ModelSettings(id, tinyModel(), slots, context, 1, -1, embeddings, 4, false);
    }

    /** A request builder with the engine's defaults (nulls) and a few handy knobs. */
    static final class Request {
        List<ChatMessage> messages;
        String prompt;
        Integer maxTokens;
        Integer maxTokensCap;
        Float temperature = 0.8f;
        Float topP;
        Long seed = 7L;
        List<String> stop;
        Float presencePenalty;
        Float frequencyPenalty;
        Map<Integer, Float> logitBias;
        int n = 1;
        ResponseFormat responseFormat = ResponseFormat.TEXT;
        int logprobs;
        boolean echo;
        String suffix;
        Instant deadline;

        static Request prompt(String prompt) {
            Request r = new Request();
            r.prompt = prompt;
            return r;
        }

        static Request chat(ChatMessage... messages) {
            Request r = new Request();
            r.messages = List.of(messages);
            return r;
        }

        Request maxTokensCap(Integer value) {
            maxTokensCap = value;
            return this;
        }

        Request maxTokens(Integer value) {
            maxTokens = value;
            return this;
        }

        Request seed(Long value) {
            seed = value;
            return this;
        }

        Request temperature(Float value) {
            temperature = value;
            return this;
        }

        Request topP(Float value) {
            topP = value;
            return this;
        }

        Request stop(List<String> value) {
            stop = value;
            return this;
        }

        Request presencePenalty(Float value) {
            presencePenalty = value;
            return this;
        }

        Request frequencyPenalty(Float value) {
            frequencyPenalty = value;
            return this;
        }

        Request logitBias(Map<Integer, Float> value) {
            logitBias = value;
            return this;
        }

        /** Bans the EOS token, so generation runs to max_tokens. */
        Request noEos() {
            logitBias = Map.of(EOS, -100f);
            return this;
        }

        Request n(int value) {
            n = value;
            return this;
        }

        Request format(ResponseFormat value) {
            responseFormat = value;
            return this;
        }

        Request logprobs(int value) {
            logprobs = value;
            return this;
        }

        Request echo(boolean value) {
            echo = value;
            return this;
        }

        Request suffix(String value) {
            suffix = value;
            return this;
        }

        Request deadline(Instant value) {
            deadline = value;
            return this;
        }

        GenerationRequest build() {
            return new GenerationRequest(
                    "test",
                    messages,
                    prompt,
                    maxTokens,
                    maxTokensCap,
                    temperature,
                    topP,
                    seed,
                    stop,
                    presencePenalty,
                    frequencyPenalty,
                    logitBias,
                    n,
                    responseFormat,
                    logprobs,
                    echo,
                    suffix,
                    deadline);
        }
    }

    /** Records deltas and finishes per choice; thread-safe enough for one stream. */
    static class RecordingSink implements GenerationSink {
        final Map<Integer, StringBuilder> texts = new ConcurrentHashMap<>();
        final Map<Integer, List<String>> deltas = new ConcurrentHashMap<>();
        final Map<Integer, FinishReason> finishes = new ConcurrentHashMap<>();

        @Override
        public void onDelta(int index, String text) {
            if (text.isEmpty()) {
                throw new AssertionError("empty delta");
            }
            if (finishes.containsKey(index)) {
                throw new AssertionError("delta after finish");
            }
            texts.computeIfAbsent(index, i -> new StringBuilder()).append(text);
            deltas.computeIfAbsent(index, i -> new ArrayList<>()).add(text);
        }

        @Override
        public void onChoiceFinished(int index, FinishReason reason) {
            if (finishes.put(index, reason) != null) {
                throw new AssertionError("finished twice");
            }
        }

        Map<Integer, FinishReason> finishes() {
            return finishes;
        }

        Map<Integer, List<String>> deltas() {
            return deltas;
        }

        Map<Integer, StringBuilder> texts() {
            return texts;
        }

        String text(int index) {
            StringBuilder text = texts.get(index);
            return text == null ? "" : text.toString();
        }
    }

    /** Streams a request to completion, returning the sink and result. */
    record Streamed(RecordingSink sink, GenerationResult result) {}

    static Streamed stream(LlamaCppEngine engine, GenerationRequest request) {
        RecordingSink sink = new RecordingSink();
        GenerationResult result = engine.stream(engine.prepare(request), sink, CancellationSignal.NEVER);
        return new Streamed(sink, result);
    }
}
