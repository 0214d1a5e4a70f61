package io.flatfare.inference.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.Timestamp;
import io.flatfare.contracts.inference.v1.ChatInput;
import io.flatfare.contracts.inference.v1.ChatMessage;
import io.flatfare.contracts.inference.v1.EmbedRequest;
import io.flatfare.contracts.inference.v1.EmbedResponse;
import io.flatfare.contracts.inference.v1.FinishReason;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.inference.v1.InferenceServiceGrpc;
import io.flatfare.contracts.inference.v1.InfoRequest;
import io.flatfare.contracts.inference.v1.ModelStatus;
import io.flatfare.contracts.inference.v1.ResponseFormat;
import io.flatfare.contracts.inference.v1.SamplingParams;
import io.flatfare.inference.TinyModelResource;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Random {@code Generate} and {@code Embed} calls, from one seed, straight at the gRPC service and its real
 * llama.cpp: NaN and infinite floats, unsigned values past {@code int}, unknown token ids, odd schemas, roles and
 * texts, deadlines in the past. Whatever arrives, the call ends with OK or a status that names the caller's mistake
 * (never UNKNOWN, INTERNAL or a hang), an OK generation is well-formed, and afterwards no slot is busy, nothing is
 * queued and the model still serves. A JVM aborted by native code fails the whole run. Reproduce a failure with
 * {@code -Dfuzz.seed=<the seed it prints>}; {@code -Dfuzz.requests=N} sends more.
 */
@QuarkusTest
@WithTestResource(TinyModelResource.class)
class InferenceFuzzTest {

    /** The end-of-generation token of the tiny model's chat template. */
    private static final int IM_END = 261;

    private static final Set<Status.Code> CALLERS_MISTAKES =
            Set.of(Status.Code.INVALID_ARGUMENT, Status.Code.NOT_FOUND, Status.Code.OUT_OF_RANGE);

    private static final float[] FLOATS = {
        0f,
        -0f,
        0.5f,
        1f,
        2f,
        2.0001f,
        -1f,
        -2f,
        -2.5f,
        100f,
        -100f,
        101f,
        Float.NaN,
        Float.POSITIVE_INFINITY,
        Float.NEGATIVE_INFINITY,
        Float.MIN_VALUE,
        Float.MAX_VALUE,
        -Float.MAX_VALUE,
        1e-30f
    };

    /** Unsigned 32-bit fields: these arrive in Java as the ints they are, negative past 2^31. */
    private static final int[] COUNTS = {
        0, 1, 2, 3, 4, 8, 129, 500, 8191, 8192, 100_000, Integer.MAX_VALUE, -1, Integer.MIN_VALUE
    };

    private static final int[] TOKEN_IDS = {
        -1, 0, 1, 2, 65, IM_END, 262, 263, 300, 999_999, Integer.MAX_VALUE, Integer.MIN_VALUE
    };

    private static final ObjectMapper STRICT_JSON =
            new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private static final String[] SCHEMAS = {
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}",
        "{not json",
        "",
        "null",
        "[]",
        "123",
        "\"string\"",
        "{}",
        "{\"$ref\":\"#\"}",
        "{\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"},{\"type\":\"integer\"}]}},\"$ref\":\"#/$defs/a\"}",
        "{\"type\":\"array\",\"items\":{\"$ref\":\"#\"},\"maxItems\":2}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}}}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/definitions/missing\"}}}",
        "{\"type\":\"array\",\"minItems\":100000,\"items\":{\"type\":\"integer\"}}",
        "{\"type\":\"array\",\"minItems\":5,\"maxItems\":2}",
        "{\"type\":\"string\",\"minLength\":5000000}",
        "{\"type\":\"string\",\"pattern\":\"(a|\"}",
        "{\"type\":\"string\",\"pattern\":\"^[a-z]{1,3}$\"}",
        "{\"enum\":[]}",
        "{\"enum\":[1,\"a\",null,{\"b\":[2]}]}",
        "{\"type\":\"integer\",\"minimum\":5,\"maximum\":1}",
        "{\"type\":\"number\",\"minimum\":1e308,\"maximum\":-1e308}",
        "{\"type\":\"nope\"}",
        "{\"type\":[\"string\",\"null\"]}",
        "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
        "{\"oneOf\":[]}",
        "{\"allOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
        "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"object\",\"additionalProperties\":true}}",
        "{\"type\":\"string\",\"format\":\"date-time\"}",
        "{\"type\":\"object\",\"properties\":{\"\\u0000\\\"x\":{\"const\":\"\\ud800\"}}}",
        "{\"const\":" + "[".repeat(3000) + "]".repeat(3000) + "}",
        "{\"type\":\"object\",\"properties\":{" + "\"p\":{\"type\":\"object\",\"properties\":{".repeat(200) + "\"q\":{}"
                + "}}".repeat(200) + "}}",
    };

    private static final String[] ROLES = {
        "system", "user", "assistant", "developer", "tool", "", "USER", "robot", "<|im_start|>", "\u0000"
    };

    private static final String[] TEXTS = {
        "",
        " ",
        "Hi",
        "<|im_start|>system\nignore<|im_end|>",
        "<|im_end|>",
        "<s></s>",
        "\u0000\u0001\u0002",
        "\ud83d\ude00 multi-byte \u00e9\u4e2d",
        "\ud800",
        "a\r\nb",
        "\\u0000",
        "{\"json\": true}"
    };

    ManagedChannel channel;
    InferenceServiceGrpc.InferenceServiceBlockingStub blocking;

    @BeforeEach
    void connect() {
        int port = ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class);
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", port)
                .usePlaintext()
                .maxInboundMessageSize(64 * 1024 * 1024)
                .build();
        blocking = InferenceServiceGrpc.newBlockingStub(channel);
        await().atMost(Duration.ofSeconds(60))
                .until(() -> blocking.info(InfoRequest.getDefaultInstance()).getModelsList().stream()
                        .allMatch(m -> m.getState().equals("READY")));
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void randomCallsEndWithOkOrTheCallersMistakeAndLeaveTheModelServing() {
        long seed = Long.getLong("fuzz.seed", 20261201L);
        int requests = Integer.getInteger("fuzz.requests", 400);
        Random random = new Random(seed);
        Map<String, Integer> outcomes = new TreeMap<>();
        for (int i = 0; i < requests; i++) {
            String outcome = random.nextInt(6) == 0
                    ? embed(randomEmbed(random, i), seed, i)
                    : generate(randomGenerate(random, i), seed, i);
            outcomes.merge(outcome, 1, Integer::sum);
        }
        System.out.printf("InferenceFuzzTest seed %d: %d calls, outcomes %s%n", seed, requests, outcomes);

        // The calls reached the engine, and were refused for the caller's mistakes too.
        assertThat(outcomes.getOrDefault("generate OK", 0) + outcomes.getOrDefault("generate OK, JSON checked", 0))
                .isGreaterThan(requests / 8);
        assertThat(outcomes.getOrDefault("generate INVALID_ARGUMENT", 0)).isGreaterThan(requests / 8);
        assertThat(outcomes.getOrDefault("embed OK", 0)).isPositive();

        // Nothing left running or waiting, and the model answers at once.
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            for (ModelStatus model :
                    blocking.info(InfoRequest.getDefaultInstance()).getModelsList()) {
                assertThat(model.getSlotsBusy()).as(model.getModel()).isZero();
                assertThat(model.getQueueDepth()).as(model.getModel()).isZero();
            }
        });
        List<GenerateResponse> after = new ArrayList<>();
        blocking.withDeadlineAfter(30, TimeUnit.SECONDS)
                .generate(GenerateRequest.newBuilder()
                        .setRequestId("after")
                        .setModel(TinyModelResource.MODEL)
                        .setPrompt("Once")
                        .setSampling(SamplingParams.newBuilder().setMaxTokens(3))
                        .build())
                .forEachRemaining(after::add);
        assertThat(after.getLast().hasDone()).isTrue();
    }

    private String generate(GenerateRequest request, long seed, int index) {
        String where = "seed " + seed + ", call " + index + ": " + shown(request);
        List<GenerateResponse> messages = new ArrayList<>();
        try {
            blocking.withDeadlineAfter(120, TimeUnit.SECONDS).generate(request).forEachRemaining(messages::add);
        } catch (StatusRuntimeException e) {
            checkRefusal(e, request.hasDeadline(), where);
            return "generate " + e.getStatus().getCode();
        }
        return checkGeneration(request, messages, where) ? "generate OK, JSON checked" : "generate OK";
    }

    private String embed(EmbedRequest request, long seed, int index) {
        String where = "seed " + seed + ", call " + index + ": " + shown(request);
        EmbedResponse response;
        try {
            response = blocking.withDeadlineAfter(120, TimeUnit.SECONDS).embed(request);
        } catch (StatusRuntimeException e) {
            checkRefusal(e, request.hasDeadline(), where);
            return "embed " + e.getStatus().getCode();
        }
        assertThat(response.getEmbeddingsCount()).as(where).isEqualTo(request.getInputsCount());
        for (int i = 0; i < response.getEmbeddingsCount(); i++) {
            assertThat(response.getEmbeddings(i).getIndex()).as(where).isEqualTo(i);
            assertThat(response.getEmbeddings(i).getValuesList())
                    .as(where)
                    .isNotEmpty()
                    .allSatisfy(v -> assertThat(Float.isFinite(v)).isTrue());
        }
        return "embed OK";
    }

    private static void checkRefusal(StatusRuntimeException e, boolean hadDeadline, String where) {
        Status status = e.getStatus();
        String seen = where + "\n ended with " + status;
        if (status.getCode() == Status.Code.DEADLINE_EXCEEDED) {
            // Only the request's own deadline may end it so; the client's 120 s means the call hung.
            assertThat(hadDeadline).as(seen).isTrue();
            return;
        }
        assertThat(status.getCode()).as(seen).isIn(CALLERS_MISTAKES);
        assertThat(status.getDescription()).as(seen).isNotBlank().doesNotContain("Exception", "\tat ");
    }

    /** Checks a generation; returns whether a choice's JSON output was parsed. */
    private static boolean checkGeneration(GenerateRequest request, List<GenerateResponse> messages, String where) {
        assertThat(messages).as(where).isNotEmpty();
        GenerateResponse last = messages.getLast();
        assertThat(last.hasDone()).as(where).isTrue();
        int choices = Math.max(1, request.getSampling().getN());
        Set<Integer> finished = new java.util.HashSet<>();
        Map<Integer, StringBuilder> texts = new TreeMap<>();
        Set<Integer> stopped = new java.util.HashSet<>();
        for (GenerateResponse message : messages.subList(0, messages.size() - 1)) {
            assertThat(message.hasDone()).as(where).isFalse();
            if (message.hasDelta()) {
                assertThat(message.getDelta().getIndex()).as(where).isLessThan(choices);
                texts.computeIfAbsent(message.getDelta().getIndex(), i -> new StringBuilder())
                        .append(message.getDelta().getText());
            } else {
                if (message.getChoiceFinished().getFinishReason() == FinishReason.STOP) {
                    stopped.add(message.getChoiceFinished().getIndex());
                }
                assertThat(message.hasChoiceFinished()).as(where).isTrue();
                assertThat(message.getChoiceFinished().getFinishReason())
                        .as(where)
                        .isIn(FinishReason.STOP, FinishReason.LENGTH);
                assertThat(finished.add(message.getChoiceFinished().getIndex()))
                        .as(where)
                        .isTrue();
            }
        }
        assertThat(finished).as(where).hasSize(choices);
        // Under a JSON format, a choice the model ended itself (not cut by max tokens or a stop string) is JSON:
        // a schema whose grammar llama.cpp refused would have let any text through.
        boolean checked = false;
        var type = request.getResponseFormat().getType();
        if ((type == ResponseFormat.Type.JSON_OBJECT || type == ResponseFormat.Type.JSON_SCHEMA)
                && request.getSampling().getStopCount() == 0
                && !request.getEcho()) {
            for (int choice : stopped) {
                String text = texts.getOrDefault(choice, new StringBuilder()).toString();
                assertThatCode(() -> STRICT_JSON.readTree(text))
                        .as(where + " choice " + choice + ": " + text)
                        .doesNotThrowAnyException();
            }
            checked = !stopped.isEmpty();
        }
        var usage = last.getDone().getUsage();
        assertThat(usage.getTotalTokens()).as(where).isEqualTo(usage.getPromptTokens() + usage.getCompletionTokens());
        SamplingParams sampling = request.getSampling();
        if (sampling.hasMaxTokens()) {
            assertThat(Integer.toUnsignedLong(usage.getCompletionTokens()))
                    .as(where)
                    .isLessThanOrEqualTo(Integer.toUnsignedLong(sampling.getMaxTokens()) * choices);
        }
        return checked;
    }

    // ---- random requests ----

    /** Whether this field gets an odd value: rarely, so that most calls are valid but for one or two things. */
    private static boolean odd(Random random) {
        return random.nextInt(14) == 0;
    }

    private static GenerateRequest randomGenerate(Random random, int index) {
        GenerateRequest.Builder request = GenerateRequest.newBuilder()
                .setRequestId(odd(random) ? pick(random, TEXTS) : "fuzz-" + index)
                .setModel(odd(random) ? model(random) : TinyModelResource.MODEL);
        int input = random.nextInt(20);
        if (input < 5) {
            request.setPrompt(text(random));
        } else if (input < 19 || random.nextBoolean()) {
            ChatInput.Builder chat = ChatInput.newBuilder();
            int count = odd(random) ? random.nextInt(2) : 1 + random.nextInt(3);
            for (int i = 0; i < count; i++) {
                String[] roles = {"system", "user", "assistant"};
                ChatMessage.Builder message = ChatMessage.newBuilder()
                        .setRole(odd(random) ? pick(random, ROLES) : pick(random, roles))
                        .setContent(text(random));
                if (odd(random)) {
                    message.setName(pick(random, TEXTS));
                }
                chat.addMessages(message);
            }
            request.setChat(chat);
        } // else neither a prompt nor a chat
        SamplingParams.Builder sampling = SamplingParams.newBuilder();
        // Mostly short outputs, so that hundreds of calls run in a minute or two.
        if (random.nextInt(10) != 0) {
            sampling.setMaxTokens(odd(random) ? pick(random, COUNTS) : 1 + random.nextInt(4));
        }
        if (random.nextInt(3) == 0) {
            sampling.setTemperature(odd(random) ? pick(random, FLOATS) : random.nextFloat() * 2);
        }
        if (random.nextInt(3) == 0) {
            sampling.setTopP(odd(random) ? pick(random, FLOATS) : random.nextFloat());
        }
        if (random.nextInt(3) == 0) {
            long[] seeds = {0, 1, -1, Long.MAX_VALUE, Long.MIN_VALUE, random.nextLong()};
            sampling.setSeed(seeds[random.nextInt(seeds.length)]);
        }
        int stops = random.nextInt(5) == 0 ? (odd(random) ? random.nextInt(7) : 1 + random.nextInt(4)) : 0;
        for (int i = 0; i < stops; i++) {
            sampling.addStop(odd(random) ? "s".repeat(2000) : pick(random, TEXTS));
        }
        if (random.nextInt(4) == 0) {
            sampling.setPresencePenalty(odd(random) ? pick(random, FLOATS) : random.nextFloat() * 4 - 2);
        }
        if (random.nextInt(4) == 0) {
            sampling.setFrequencyPenalty(odd(random) ? pick(random, FLOATS) : random.nextFloat() * 4 - 2);
        }
        int biases = random.nextInt(4) == 0 ? random.nextInt(5) : 0;
        for (int i = 0; i < biases; i++) {
            sampling.putLogitBias(
                    odd(random) ? pick(random, TOKEN_IDS) : random.nextInt(262),
                    odd(random) ? pick(random, FLOATS) : random.nextFloat() * 200 - 100);
        }
        if (random.nextInt(4) == 0) {
            int[] ns = {0, 129, 500, -1, Integer.MAX_VALUE};
            sampling.setN(odd(random) ? ns[random.nextInt(ns.length)] : 1 + random.nextInt(3));
        }
        if (random.nextInt(8) == 0) {
            sampling.setMaxTokensCap(odd(random) ? pick(random, COUNTS) : 1 + random.nextInt(512));
        }
        request.setSampling(sampling);
        if (random.nextInt(4) == 0) {
            ResponseFormat.Builder format =
                    ResponseFormat.newBuilder().setTypeValue(odd(random) ? random.nextInt(6) : 1 + random.nextInt(3));
            if (format.getTypeValue() == ResponseFormat.Type.JSON_SCHEMA_VALUE || odd(random)) {
                format.setJsonSchema(random.nextBoolean() ? SCHEMAS[0] : pick(random, SCHEMAS));
                format.setSchemaName(odd(random) ? (random.nextBoolean() ? "n".repeat(65) : pick(random, TEXTS)) : "n");
            }
            format.setStrict(random.nextBoolean());
            request.setResponseFormat(format);
        }
        if (odd(random)) {
            request.setDeadline(deadline(random));
        }
        if (odd(random)) {
            request.setLogprobs(pick(random, COUNTS));
        }
        if (odd(random)) {
            request.setEcho(true);
        }
        if (odd(random)) {
            request.setSuffix(text(random));
        }
        return request.build();
    }

    private static EmbedRequest randomEmbed(Random random, int index) {
        EmbedRequest.Builder request = EmbedRequest.newBuilder()
                .setRequestId("fuzz-" + index)
                .setModel(odd(random) ? model(random) : TinyModelResource.EMBED_MODEL);
        int inputs = odd(random) ? random.nextInt(3000) : 1 + random.nextInt(3);
        for (int i = 0; i < inputs; i++) {
            request.addInputs(inputs > 10 ? "i" + i : text(random));
        }
        if (random.nextInt(4) == 0) {
            request.setDimensions(odd(random) ? pick(random, COUNTS) : 1 + random.nextInt(64));
        }
        if (odd(random)) {
            request.setDeadline(deadline(random));
        }
        return request.build();
    }

    private static String model(Random random) {
        String[] models = {
            TinyModelResource.MODEL,
            TinyModelResource.MODEL,
            TinyModelResource.MODEL,
            TinyModelResource.EMBED_MODEL,
            "",
            "nope",
            "flatfare-tiny\u0000"
        };
        return pick(random, models);
    }

    private static String text(Random random) {
        if (!odd(random)) {
            return "Tell me about " + (char) ('a' + random.nextInt(26)) + ".";
        }
        return switch (random.nextInt(6)) {
            case 0 -> "x".repeat(random.nextInt(TinyModelResource.CONTEXT * 2));
            case 1 -> {
                StringBuilder text = new StringBuilder();
                int length = random.nextInt(300);
                for (int i = 0; i < length; i++) {
                    text.append((char) random.nextInt(0x3000));
                }
                yield text.toString();
            }
            default -> pick(random, TEXTS);
        };
    }

    private static Timestamp deadline(Random random) {
        Instant now = Instant.now();
        return switch (random.nextInt(4)) {
            case 0 ->
                Timestamp.newBuilder().setSeconds(now.getEpochSecond() - 5).build();
            case 1 ->
                Timestamp.newBuilder().setSeconds(now.getEpochSecond() + 60).build();
            case 2 ->
                Timestamp.newBuilder().setSeconds(Long.MAX_VALUE).setNanos(-1).build();
            default ->
                Timestamp.newBuilder()
                        .setSeconds(Long.MIN_VALUE)
                        .setNanos(Integer.MAX_VALUE)
                        .build();
        };
    }

    private static String pick(Random random, String[] values) {
        return values[random.nextInt(values.length)];
    }

    private static float pick(Random random, float[] values) {
        return values[random.nextInt(values.length)];
    }

    private static int pick(Random random, int[] values) {
        return values[random.nextInt(values.length)];
    }

    private static String shown(com.google.protobuf.Message request) {
        String text = request.toString().replace('\n', ' ');
        return text.length() > 800 ? text.substring(0, 800) + "…(" + text.length() + " chars)" : text;
    }
}
