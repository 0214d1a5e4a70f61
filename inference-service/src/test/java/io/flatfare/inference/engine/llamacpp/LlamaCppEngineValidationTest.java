package io.flatfare.inference.engine.llamacpp;

import static io.flatfare.inference.engine.llamacpp.TestModels.stream;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.flatfare.inference.engine.FinishReason;
import io.flatfare.inference.engine.GenerationRequest;
import io.flatfare.inference.engine.GenerationRequest.ChatMessage;
import io.flatfare.inference.engine.GenerationRequest.ResponseFormat;
import io.flatfare.inference.engine.InvalidRequestException;
import io.flatfare.inference.engine.llamacpp.TestModels.Request;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every parameter is checked in Java before native code sees it: each bad value is an
 * {@link InvalidRequestException} naming the OpenAI parameter, and the JVM (and the model) live on — after every
 * case a real generation runs.
 */
class LlamaCppEngineValidationTest {

    private static final int CONTEXT = 256;
    private static LlamaCppEngine engine;

    @BeforeAll
    static void load() {
        TestModels.prepareNative();
        engine = LlamaCppEngine.load(TestModels.settings("tiny-validation", 1, CONTEXT, false));
    }

    @AfterAll
    static void close() {
        if (engine != null) {
            engine.close();
        }
    }

    @AfterEach
    void theModelStillWorks() {
        var run = stream(
                engine, Request.prompt("still alive").maxTokens(3).noEos().build());
        assertThat(run.result().completionTokens()).isEqualTo(3);
        assertThat(run.sink().finishes()).containsExactly(Map.entry(0, FinishReason.LENGTH));
    }

    static Stream<Arguments> invalidRequests() {
        Map<Integer, Float> manyBiases = new HashMap<>();
        for (int i = 0; i < 1025; i++) {
            manyBiases.put(i % 262 + 1000 * (i / 262), 1f);
        }
        List<Arguments> cases = new ArrayList<>(List.of(
                bad("max_tokens", "zero max_tokens", r -> r.maxTokens(0)),
                bad("max_tokens", "negative max_tokens", r -> r.maxTokens(-5)),
                bad("max_tokens", "huge max_tokens", r -> r.maxTokens(Integer.MAX_VALUE), "context_length_exceeded"),
                bad(
                        "max_tokens",
                        "prompt + max_tokens over the context",
                        r -> r.maxTokens(CONTEXT - 4),
                        "context_length_exceeded"),
                bad(
                        "prompt",
                        "a prompt filling the context",
                        r -> r.prompt = "x".repeat(CONTEXT),
                        "context_length_exceeded"),
                bad(
                        "prompt",
                        "an over-long prompt",
                        r -> r.prompt = "x".repeat(10 * CONTEXT),
                        "context_length_exceeded"),
                bad("prompt", "an empty prompt", r -> r.prompt = ""),
                bad("temperature", "temperature 5", r -> r.temperature(5f)),
                bad("temperature", "negative temperature", r -> r.temperature(-0.1f)),
                bad("temperature", "NaN temperature", r -> r.temperature(Float.NaN)),
                bad("top_p", "top_p above 1", r -> r.topP(1.5f)),
                bad("top_p", "negative top_p", r -> r.topP(-0.5f)),
                bad("top_p", "infinite top_p", r -> r.topP(Float.POSITIVE_INFINITY)),
                bad("presence_penalty", "presence_penalty 3", r -> r.presencePenalty(3f)),
                bad("frequency_penalty", "frequency_penalty -2.5", r -> r.frequencyPenalty(-2.5f)),
                bad("frequency_penalty", "NaN frequency_penalty", r -> r.frequencyPenalty(Float.NaN)),
                bad("stop", "five stop strings", r -> r.stop(List.of("a", "b", "c", "d", "e"))),
                bad("stop", "an empty stop string", r -> r.stop(List.of(""))),
                bad("stop", "a null stop string", r -> r.stop(Arrays.asList("a", null))),
                bad("stop", "an over-long stop string", r -> r.stop(List.of("s".repeat(257)))),
                bad("logit_bias", "a token id past the vocabulary", r -> r.logitBias(Map.of(262, 1f))),
                bad("logit_bias", "a negative token id", r -> r.logitBias(Map.of(-1, 1f))),
                bad("logit_bias", "a bias of 101", r -> r.logitBias(Map.of(5, 101f))),
                bad("logit_bias", "a NaN bias", r -> r.logitBias(Map.of(5, Float.NaN))),
                bad("logit_bias", "too many biases", r -> r.logitBias(manyBiases)),
                bad("n", "n = 0", r -> r.n(0)),
                bad("n", "n above the model's maximum", r -> r.n(5)),
                bad("logprobs", "logprobs = 1", r -> r.logprobs(1), "unsupported_parameter"),
                bad("logprobs", "negative logprobs", r -> r.logprobs(-1)),
                bad("suffix", "a suffix", r -> r.suffix("the end"), "unsupported_parameter"),
                bad("response_format", "an unknown response format", r -> r.format(format("xml", null))),
                bad("response_format", "a null response format type", r -> r.format(format(null, null))),
                bad("response_format", "json_schema without a schema", r -> r.format(format("json_schema", null))),
                bad("response_format", "a schema that is not JSON", r -> r.format(format("json_schema", "{not json"))),
                bad("response_format", "a schema that is an array", r -> r.format(format("json_schema", "[1, 2]"))),
                bad("response_format", "a schema that is a string", r -> r.format(format("json_schema", "\"object\""))),
                bad("response_format", "an unknown type", r -> r.format(format("json_schema", "{\"type\": \"foo\"}"))),
                bad(
                        "response_format",
                        "a format that is not a string",
                        r -> r.format(format("json_schema", "{\"type\": \"string\", \"format\": 5}"))),
                bad(
                        "response_format",
                        "a dangling $ref",
                        r -> r.format(format("json_schema", "{\"$ref\": \"#/nope\"}"))),
                bad(
                        "response_format",
                        "a remote $ref",
                        r -> r.format(format("json_schema", "{\"$ref\": \"https://example.com/s.json\"}"))),
                bad(
                        "response_format",
                        "a boolean item schema",
                        r -> r.format(format("json_schema", "{\"type\": \"array\", \"items\": true}"))),
                bad(
                        "response_format",
                        "a pattern that crashes llama.cpp",
                        r -> r.format(format("json_schema", "{\"type\": \"string\", \"pattern\": \"^*$\"}"))),
                bad(
                        "response_format",
                        "a lookahead pattern",
                        r -> r.format(format("json_schema", "{\"type\": \"string\", \"pattern\": \"^(?=a)b$\"}"))),
                bad(
                        "response_format",
                        "an unanchored pattern",
                        r -> r.format(format("json_schema", "{\"type\": \"string\", \"pattern\": \"abc\"}"))),
                bad(
                        "response_format",
                        "minLength above maxLength",
                        r -> r.format(
                                format("json_schema", "{\"type\": \"string\", \"minLength\": 5, \"maxLength\": 3}"))),
                bad(
                        "response_format",
                        "allOf",
                        r -> r.format(format("json_schema", "{\"allOf\": [{\"type\": \"string\"}]}"))),
                bad(
                        "response_format",
                        "a minimum on a number",
                        r -> r.format(format("json_schema", "{\"type\": \"number\", \"minimum\": 0}"))),
                bad(
                        "response_format",
                        "a bad schema name",
                        r -> r.format(new ResponseFormat("json_schema", "has space", "{\"type\": \"object\"}", true))),
                bad("messages", "chat without messages", r -> {
                    r.prompt = null;
                    r.messages = List.of();
                }),
                bad("messages", "an unknown role", r -> {
                    r.prompt = null;
                    r.messages = List.of(new ChatMessage("wizard", "hi", null));
                }),
                bad("messages", "a null role", r -> {
                    r.prompt = null;
                    r.messages = List.of(new ChatMessage(null, "hi", null));
                }),
                bad("messages", "null content", r -> {
                    r.prompt = null;
                    r.messages = List.of(new ChatMessage("user", null, null));
                }),
                bad(
                        "messages",
                        "an over-long conversation",
                        r -> {
                            r.prompt = null;
                            r.messages = List.of(new ChatMessage("user", "y".repeat(CONTEXT), null));
                        },
                        "context_length_exceeded"),
                bad(
                        "messages",
                        "so many empty messages that the chat template alone is over the tokenizer's limit",
                        r -> {
                            r.prompt = null;
                            r.messages = java.util.Collections.nCopies(100_000, new ChatMessage("user", "", null));
                        },
                        "context_length_exceeded"),
                bad(
                        "prompt",
                        "both messages and a prompt",
                        r -> r.messages = List.of(new ChatMessage("user", "hi", null))),
                bad("messages", "neither messages nor a prompt", r -> r.prompt = null),
                bad("echo", "echo on a chat", r -> {
                    r.prompt = null;
                    r.messages = List.of(new ChatMessage("user", "hi", null));
                    r.echo(true);
                })));
        return cases.stream();
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("invalidRequests")
    void aBadParameterIsAnInvalidRequestNamingIt(
            String param, String description, Consumer<Request> change, String code) {
        Request request = Request.prompt("Hello").maxTokens(10);
        change.accept(request);
        GenerationRequest built = request.build();

        assertThatThrownBy(() -> engine.prepare(built)).isInstanceOfSatisfying(InvalidRequestException.class, e -> {
            assertThat(e.param()).as(e.getMessage()).isEqualTo(param);
            assertThat(e.code()).isEqualTo(code);
            assertThat(e.getMessage()).isNotBlank();
        });
    }

    @Test
    void boundaryValuesAreAccepted() {
        Map<Integer, Float> bias = Map.of(0, -100f, 261, 100f, 65, 0.5f);
        var request = Request.prompt("Hello")
                .maxTokens(CONTEXT - 5)
                .temperature(2f)
                .topP(0f)
                .presencePenalty(-2f)
                .frequencyPenalty(2f)
                .stop(List.of("a", "b", "c", "s".repeat(256)))
                .logitBias(bias)
                .n(4)
                .seed(Long.MAX_VALUE)
                .format(format("json_schema", "{\"type\": \"object\"}"))
                .build();

        var prepared = engine.prepare(request);

        assertThat(prepared.maxTokens()).isEqualTo(CONTEXT - 5);
        assertThat(prepared.promptTokens()).isEqualTo(5);
        var run = engine.generate(prepared, io.flatfare.inference.engine.CancellationSignal.NEVER);
        assertThat(run.texts()).hasSize(4);
    }

    @Test
    void anEmptySuffixIsNoSuffix() {
        assertThat(engine.prepare(Request.prompt("x").maxTokens(2).suffix("").build())
                        .maxTokens())
                .isEqualTo(2);
    }

    private static ResponseFormat format(String type, String schema) {
        return new ResponseFormat(type, null, schema, false);
    }

    private static Arguments bad(String param, String description, Consumer<Request> change) {
        return Arguments.of(param, description, change, null);
    }

    private static Arguments bad(String param, String description, Consumer<Request> change, String code) {
        return Arguments.of(param, description, change, code);
    }
}
