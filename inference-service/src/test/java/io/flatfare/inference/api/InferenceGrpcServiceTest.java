package io.flatfare.inference.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Timestamp;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.flatfare.contracts.inference.v1.ChatInput;
import io.flatfare.contracts.inference.v1.ChatMessage;
import io.flatfare.contracts.inference.v1.EmbedRequest;
import io.flatfare.contracts.inference.v1.FinishReason;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.inference.v1.InferenceServiceGrpc;
import io.flatfare.contracts.inference.v1.InfoRequest;
import io.flatfare.contracts.inference.v1.ModelStatus;
import io.flatfare.contracts.inference.v1.ResponseFormat;
import io.flatfare.contracts.inference.v1.SamplingParams;
import io.flatfare.inference.TinyModelResource;
import io.flatfare.inference.service.ResidentModels;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The InferenceService over real gRPC, with the generated tiny model resident in real llama.cpp. */
@QuarkusTest
@WithTestResource(TinyModelResource.class)
class InferenceGrpcServiceTest {

    /** Bans the end-of-generation token so a generation runs until cancelled or its limit. */
    static final int IM_END = 261;

    @Inject
    ServiceWarmUp warmUp;

    @Inject
    ResidentModels models;

    @Inject
    MeterRegistry meters;

    ManagedChannel channel;
    InferenceServiceGrpc.InferenceServiceBlockingStub blocking;
    InferenceServiceGrpc.InferenceServiceStub async;

    @BeforeEach
    void connect() {
        int port = ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class);
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", port)
                .usePlaintext()
                .build();
        blocking = InferenceServiceGrpc.newBlockingStub(channel);
        async = InferenceServiceGrpc.newStub(channel);
        await().atMost(Duration.ofSeconds(60))
                .until(() -> blocking.info(InfoRequest.getDefaultInstance()).getModelsList().stream()
                        .allMatch(m -> m.getState().equals("READY")));
    }

    @Test
    void theServiceWarmUpCallsEachModelThroughGrpcAsAClientWould() {
        Timer queued = meters.get("flatfare.inference.queue.time")
                .tag("model", TinyModelResource.MODEL)
                .timer();
        long before = queued.count();

        warmUp.onWarming(new ResidentModels.Warming(models.models()));

        // A chat and a prompt generation went through the gRPC server to the model (the embeddings model's Embed
        // call is not timed there).
        assertThat(queued.count() - before).isEqualTo(2);
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        // Every test leaves the slots and the queue free for the next one.
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            var tiny = info(TinyModelResource.MODEL);
            return tiny.getSlotsBusy() == 0 && tiny.getQueueDepth() == 0;
        });
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    static GenerateRequest request(String prompt, Consumer<SamplingParams.Builder> sampling) {
        var params = SamplingParams.newBuilder();
        sampling.accept(params);
        return GenerateRequest.newBuilder()
                .setRequestId("req-" + System.nanoTime())
                .setModel(TinyModelResource.MODEL)
                .setPrompt(prompt)
                .setSampling(params)
                .build();
    }

    /** A generation that only ends when cancelled (or after thousands of tokens). */
    static GenerateRequest endless() {
        return request(
                "Tell me everything.", s -> s.setMaxTokens(8000).setSeed(1).putLogitBias(IM_END, -100));
    }

    List<GenerateResponse> call(GenerateRequest request) {
        var all = new ArrayList<GenerateResponse>();
        Iterator<GenerateResponse> it =
                blocking.withDeadlineAfter(30, TimeUnit.SECONDS).generate(request);
        it.forEachRemaining(all::add);
        return all;
    }

    static String text(List<GenerateResponse> messages, int index) {
        var text = new StringBuilder();
        messages.stream()
                .filter(m -> m.hasDelta() && m.getDelta().getIndex() == index)
                .forEach(m -> text.append(m.getDelta().getText()));
        return text.toString();
    }

    ModelStatus info(String model) {
        return blocking.info(InfoRequest.getDefaultInstance()).getModelsList().stream()
                .filter(m -> m.getModel().equals(model))
                .findFirst()
                .orElseThrow();
    }

    static Status.Code codeOf(Runnable call) {
        try {
            call.run();
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        }
        return Status.Code.OK;
    }

    @Test
    void infoListsTheResidentModels() {
        var tiny = info(TinyModelResource.MODEL);
        assertThat(tiny.getSlotsTotal()).isEqualTo(TinyModelResource.SLOTS);
        assertThat(tiny.getQueueCapacity()).isEqualTo(TinyModelResource.QUEUE);
        assertThat(tiny.getContextLength()).isEqualTo(TinyModelResource.CONTEXT);
        assertThat(tiny.getEmbeddings()).isFalse();
        assertThat(info(TinyModelResource.EMBED_MODEL).getEmbeddings()).isTrue();
    }

    /** Prompts past the event loop's share are tokenized on a worker thread; the answer is the same kind. */
    @Test
    void aLongPromptIsPreparedOffTheEventLoopAndAnswered() {
        String prompt = "lighthouse ".repeat(InferenceGrpcService.EVENT_LOOP_PROMPT_CHARS / 11 + 50);
        assertThat(prompt.length()).isGreaterThan(InferenceGrpcService.EVENT_LOOP_PROMPT_CHARS);

        var messages = call(request(prompt, s -> s.setMaxTokens(3).setSeed(7).putLogitBias(IM_END, -100)));

        var done = messages.getLast();
        assertThat(done.hasDone()).isTrue();
        assertThat(done.getDone().getUsage().getPromptTokens()).isEqualTo(prompt.length());
        assertThat(done.getDone().getUsage().getCompletionTokens()).isEqualTo(3);
    }

    /**
     * A prompt as large as the gateway lets through (8 MiB bodies) reaches the engine, which answers it on its
     * merits: here too long for the tiny model's context. Refused by gRPC's message size instead, it was
     * RESOURCE_EXHAUSTED, which a gateway reads as "slots full, retry".
     */
    @Test
    void aPromptOfMegabytesIsJudgedByTheModelNotRefusedForItsSize() {
        String contract = "The Supplier shall deliver the goods. ".repeat(200_000);
        assertThat(contract.length()).isGreaterThan(7_000_000);

        assertThatThrownBy(() -> call(request(contract, s -> s.setMaxTokens(1))))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(StatusProto.fromThrowable(e).getDetailsList()).anySatisfy(d -> {
                        assertThat(d.is(ErrorInfo.class)).isTrue();
                        assertThat(d.unpack(ErrorInfo.class).getReason()).isEqualTo("context_length_exceeded");
                    });
                });
    }

    /**
     * Many empty messages: their contents are 0 characters, but the template around each is rendered and tokenized.
     * They were prepared on the event loop (counted as 0 characters, seconds of work for 100,000), and the rendered
     * text, over the tokenizer's limit, failed as INTERNAL (a 502 at the gateway).
     */
    @Test
    void aConversationOfManyEmptyMessagesIsPreparedOffTheEventLoopAndJudgedByTheContext() {
        var chat = ChatInput.newBuilder();
        for (int i = 0; i < 100_000; i++) {
            chat.addMessages(ChatMessage.newBuilder().setRole("user").setContent(""));
        }
        var request = GenerateRequest.newBuilder()
                .setRequestId("many-empty")
                .setModel(TinyModelResource.MODEL)
                .setChat(chat)
                .setSampling(SamplingParams.newBuilder().setMaxTokens(1))
                .build();
        assertThat(InferenceGrpcService.promptChars(request))
                .isGreaterThan(InferenceGrpcService.EVENT_LOOP_PROMPT_CHARS);
        // As few as the event loop's share, in messages alone, go to a worker too.
        var few = GenerateRequest.newBuilder()
                .setChat(ChatInput.newBuilder()
                        .addAllMessages(java.util.Collections.nCopies(
                                InferenceGrpcService.EVENT_LOOP_PROMPT_CHARS
                                                / InferenceGrpcService.MESSAGE_TEMPLATE_CHARS
                                        + 1,
                                ChatMessage.newBuilder()
                                        .setRole("user")
                                        .setContent("")
                                        .build())))
                .build();
        assertThat(InferenceGrpcService.promptChars(few)).isGreaterThan(InferenceGrpcService.EVENT_LOOP_PROMPT_CHARS);

        assertThatThrownBy(() -> call(request)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(e.getStatus().getDescription()).contains("chat template around each of the 100000");
            assertThat(StatusProto.fromThrowable(e).getDetailsList()).anySatisfy(d -> {
                assertThat(d.is(ErrorInfo.class)).isTrue();
                assertThat(d.unpack(ErrorInfo.class).getReason()).isEqualTo("context_length_exceeded");
            });
        });
    }

    @Test
    void generatesWithExactUsageAndFinishReason() {
        var messages = call(request("Hello", s -> s.setMaxTokens(16).setSeed(7).putLogitBias(IM_END, -100)));
        var done = messages.getLast();
        assertThat(done.hasDone()).isTrue();
        assertThat(done.getDone().getUsage().getPromptTokens()).isEqualTo("Hello".length());
        assertThat(done.getDone().getUsage().getCompletionTokens()).isEqualTo(16);
        assertThat(done.getDone().getUsage().getTotalTokens()).isEqualTo(16 + 5);
        assertThat(done.getDone().getSystemFingerprint()).isNotBlank();
        // The first message carries it too (a client shows it from the first text), and only the first.
        assertThat(messages.getFirst().getSystemFingerprint())
                .isEqualTo(done.getDone().getSystemFingerprint());
        assertThat(messages.subList(1, messages.size()))
                .allSatisfy(m -> assertThat(m.getSystemFingerprint()).isEmpty());
        assertThat(messages)
                .filteredOn(GenerateResponse::hasChoiceFinished)
                .singleElement()
                .satisfies(
                        m -> assertThat(m.getChoiceFinished().getFinishReason()).isEqualTo(FinishReason.LENGTH));
        assertThat(text(messages, 0)).isNotEmpty();
    }

    @Test
    void sameSeedSameTextAndNChoices() {
        var first =
                call(request("Once upon", s -> s.setMaxTokens(24).setSeed(42).setN(2)));
        var second =
                call(request("Once upon", s -> s.setMaxTokens(24).setSeed(42).setN(2)));
        assertThat(text(first, 0)).isEqualTo(text(second, 0));
        assertThat(text(first, 1)).isEqualTo(text(second, 1));
        assertThat(first.stream()
                        .filter(GenerateResponse::hasChoiceFinished)
                        .map(m -> m.getChoiceFinished().getIndex()))
                .containsExactlyInAnyOrder(0, 1);
    }

    @Test
    void chatGoesThroughTheTemplate() {
        var request = GenerateRequest.newBuilder()
                .setRequestId("chat-1")
                .setModel(TinyModelResource.MODEL)
                .setChat(ChatInput.newBuilder()
                        .addMessages(ChatMessage.newBuilder().setRole("system").setContent("Be brief."))
                        .addMessages(ChatMessage.newBuilder().setRole("user").setContent("Hi ✓ 😀")))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(8).setSeed(3))
                .build();
        var done = call(request).getLast().getDone();
        // ChatML wraps each message in <|im_start|>role\n...<|im_end|>\n and opens the assistant turn.
        assertThat(done.getUsage().getPromptTokens()).isGreaterThan("Be brief.Hi ✓ 😀".getBytes().length);
    }

    @Test
    void jsonSchemaOutputIsValidJson() throws Exception {
        var schema = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8}},"
                + "\"required\":[\"name\"],\"additionalProperties\":false}";
        var request = request("Give me JSON", s -> s.setMaxTokens(200).setSeed(5)).toBuilder()
                .setResponseFormat(ResponseFormat.newBuilder()
                        .setType(ResponseFormat.Type.JSON_SCHEMA)
                        .setSchemaName("person")
                        .setJsonSchema(schema))
                .build();
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(text(call(request), 0));
        assertThat(json.isObject()).isTrue();
        assertThat(json.get("name").isTextual()).isTrue();
    }

    @Test
    void badParametersAreInvalidArgumentAndTheServiceLivesOn() {
        List<GenerateRequest> bad = List.of(
                request("x", s -> s.setMaxTokens(-1)),
                request("x", s -> s.setMaxTokens(Integer.MAX_VALUE)),
                request("x", s -> s.setTemperature(5)),
                request("x", s -> s.setN(500)),
                request("x", s -> s.putLogitBias(999_999, 1)),
                request(
                        "x",
                        s -> s.addStop("a")
                                .addStop("b")
                                .addStop("c")
                                .addStop("d")
                                .addStop("e")),
                request("x".repeat(TinyModelResource.CONTEXT + 10), s -> s.setMaxTokens(1)),
                request("x", s -> {}).toBuilder().setLogprobs(1).build(),
                request("x", s -> {}).toBuilder()
                        .setResponseFormat(ResponseFormat.newBuilder()
                                .setType(ResponseFormat.Type.JSON_SCHEMA)
                                .setJsonSchema("{not json"))
                        .build(),
                // A deadline no timestamp can hold.
                request("x", s -> {}).toBuilder()
                        .setDeadline(Timestamp.newBuilder().setSeconds(Long.MAX_VALUE))
                        .build());
        for (GenerateRequest request : bad) {
            assertThatThrownBy(() -> call(request))
                    .as(request.getSampling().toString())
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                        assertThat(e.getStatus().getDescription()).isNotBlank();
                    });
        }
        var overLong = assertThatThrownBy(() ->
                call(request("x".repeat(TinyModelResource.CONTEXT + 10), s -> s.setMaxTokens(1))));
        overLong.isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            var details = StatusProto.fromThrowable(e).getDetailsList();
            assertThat(details).anySatisfy(d -> {
                assertThat(d.is(ErrorInfo.class)).isTrue();
            });
        });
        // Still serving.
        assertThat(call(request("ok", s -> s.setMaxTokens(2))).getLast().hasDone())
                .isTrue();
        assertThat(codeOf(() ->
                        call(request("x", s -> {}).toBuilder().setModel("nope").build())))
                .isEqualTo(Status.Code.NOT_FOUND);
    }

    @Test
    void slotsThenQueueThenResourceExhausted() throws Exception {
        var running = List.of(new StreamProbe(), new StreamProbe());
        for (StreamProbe probe : running) {
            async.generate(endless(), probe);
        }
        for (StreamProbe probe : running) {
            assertThat(probe.awaitFirstDelta(Duration.ofSeconds(20))).isTrue();
        }
        var queued = List.of(new StreamProbe(), new StreamProbe());
        for (StreamProbe probe : queued) {
            async.generate(endless(), probe);
        }
        await().atMost(Duration.ofSeconds(10))
                .until(() -> info(TinyModelResource.MODEL).getQueueDepth() == 2);
        assertThat(queued).noneMatch(StreamProbe::hasDelta);

        // Past slots and queue: refused at once, with a retry hint.
        assertThatThrownBy(() -> call(endless())).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            assertThat(StatusProto.fromThrowable(e).getDetailsList())
                    .anySatisfy(d -> assertThat(d.is(RetryInfo.class)).isTrue());
        });

        // Cancelling a running stream frees its slot: a queued one starts promptly.
        running.getFirst().cancel();
        assertThat(queued.getFirst().awaitFirstDelta(Duration.ofSeconds(10))).isTrue();

        running.getLast().cancel();
        queued.forEach(StreamProbe::cancel);
    }

    @Test
    void aPassedDeadlineFreesTheSlot() throws Exception {
        var request = endless().toBuilder()
                .setDeadline(Timestamp.newBuilder()
                        .setSeconds(Instant.now().plusMillis(300).getEpochSecond())
                        .setNanos(Instant.now().plusMillis(300).getNano()))
                .build();
        var probe = new StreamProbe();
        async.generate(request, probe);
        Status status = probe.awaitEnd(Duration.ofSeconds(20));
        assertThat(status).isNotNull();
        assertThat(status.getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
        await().atMost(Duration.ofSeconds(5))
                .until(() -> info(TinyModelResource.MODEL).getSlotsBusy() == 0);

        // A gRPC deadline on the call does the same.
        var timed = new StreamProbe();
        async.withDeadlineAfter(300, TimeUnit.MILLISECONDS).generate(endless(), timed);
        assertThat(timed.awaitEnd(Duration.ofSeconds(20)).getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
        await().atMost(Duration.ofSeconds(5))
                .until(() -> info(TinyModelResource.MODEL).getSlotsBusy() == 0);
    }

    @Test
    void embedsOnlyWithAnEmbeddingsModel() {
        var response = blocking.withDeadlineAfter(30, TimeUnit.SECONDS)
                .embed(EmbedRequest.newBuilder()
                        .setRequestId("emb-1")
                        .setModel(TinyModelResource.EMBED_MODEL)
                        .addInputs("hello")
                        .addInputs("world")
                        .build());
        assertThat(response.getEmbeddingsList()).hasSize(2);
        assertThat(response.getEmbeddings(0).getValuesCount()).isEqualTo(64);
        assertThat(response.getUsage().getPromptTokens()).isEqualTo(10);

        assertThat(codeOf(() -> blocking.embed(EmbedRequest.newBuilder()
                        .setModel(TinyModelResource.MODEL)
                        .addInputs("hello")
                        .build())))
                .isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(codeOf(() -> blocking.embed(EmbedRequest.newBuilder()
                        .setModel(TinyModelResource.EMBED_MODEL)
                        .build())))
                .isEqualTo(Status.Code.INVALID_ARGUMENT);
        var passed = Instant.now().minusSeconds(1);
        assertThat(codeOf(() -> blocking.embed(EmbedRequest.newBuilder()
                        .setModel(TinyModelResource.EMBED_MODEL)
                        .addInputs("hello")
                        .setDeadline(Timestamp.newBuilder()
                                .setSeconds(passed.getEpochSecond())
                                .setNanos(passed.getNano()))
                        .build())))
                .isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    }
}
