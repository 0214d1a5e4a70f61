package io.flatfare.gateway.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.OpenAIServiceException;
import com.openai.errors.RateLimitException;
import com.openai.errors.UnauthorizedException;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.helpers.ResponseAccumulator;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.chat.completions.StructuredChatCompletion;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import com.openai.models.models.Model;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseStatus;
import com.openai.models.responses.ResponseStreamEvent;
import com.openai.models.responses.StructuredResponse;
import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The official OpenAI Java SDK ({@code com.openai:openai-java}) against this gateway, as {@link SdkConformanceTest}
 * runs the Node SDK. The client validates every answer against the SDK's own model of the API
 * ({@code responseValidation}), so a missing or mistyped field fails here even where no assertion looks at it; the
 * SDK's helpers rebuild streamed answers and parse structured outputs into Java classes, as applications use them.
 */
@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
class JavaSdkConformanceTest {

    static final String MODEL = OpenAiApiTest.MODEL;
    static final String EMBEDDING_MODEL = "flatfare-tiny-embed";

    @Inject
    Tenants tenants;

    private Tenants.Tenant tenant;
    private OpenAIClient client;

    @BeforeEach
    void setUp() {
        tenant = tenants.generous();
        client = client(tenant.key(), builder -> builder.maxRetries(0));
    }

    @AfterEach
    void tearDown() {
        client.close();
    }

    private static OpenAIClient client(String key, Consumer<OpenAIOkHttpClient.Builder> options) {
        var builder = OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + RestAssured.port + "/v1")
                .apiKey(key)
                .responseValidation(true)
                .timeout(Duration.ofSeconds(60));
        options.accept(builder);
        return builder.build();
    }

    /** What the structured-output helpers turn into a JSON schema and parse the answer back into. */
    public static class Verdict {
        public boolean approved;
        public Mood mood;
    }

    public enum Mood {
        CALM,
        CROSS
    }

    @Test
    void chat() {
        ChatCompletion r = client.chat()
                .completions()
                .create(ChatCompletionCreateParams.builder()
                        .model(MODEL)
                        .addSystemMessage("You are terse.")
                        .addUserMessage("Say hello")
                        .maxCompletionTokens(8)
                        .seed(7)
                        .build());
        assertThat(r.id()).startsWith("chatcmpl-");
        assertThat(r.model()).isEqualTo(MODEL);
        assertThat(r.systemFingerprint()).isPresent();
        assertThat(r.choices()).hasSize(1);
        ChatCompletion.Choice choice = r.choices().getFirst();
        assertThat(choice.index()).isZero();
        assertThat(choice.message().content()).isPresent();
        assertThat(choice.finishReason().value())
                .isIn(ChatCompletion.Choice.FinishReason.Value.STOP, ChatCompletion.Choice.FinishReason.Value.LENGTH);
        var usage = r.usage().orElseThrow();
        assertThat(usage.completionTokens()).isBetween(1L, 8L);
        assertThat(usage.totalTokens()).isEqualTo(usage.promptTokens() + usage.completionTokens());

        ChatCompletion two = client.chat()
                .completions()
                .create(ChatCompletionCreateParams.builder()
                        .model(MODEL)
                        .addUserMessage("Two answers")
                        .n(2)
                        .maxTokens(4)
                        .build());
        assertThat(two.choices()).extracting(ChatCompletion.Choice::index).containsExactlyInAnyOrder(0L, 1L);
    }

    @Test
    void chatStreamRebuiltByTheSdk() {
        var params = ChatCompletionCreateParams.builder()
                .model(MODEL)
                .addUserMessage("Stream please")
                .maxCompletionTokens(12)
                .seed(11)
                .streamOptions(
                        ChatCompletionStreamOptions.builder().includeUsage(true).build())
                .build();
        var accumulator = ChatCompletionAccumulator.create();
        StringBuilder deltas = new StringBuilder();
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream =
                client.chat().completions().createStreaming(params)) {
            stream.stream().forEach(chunk -> {
                chunks.add(chunk);
                accumulator.accumulate(chunk);
                chunk.choices().forEach(c -> c.delta().content().ifPresent(deltas::append));
            });
        }
        assertThat(chunks)
                .extracting(ChatCompletionChunk::id)
                .containsOnly(chunks.getFirst().id());
        assertThat(chunks.getLast().choices()).isEmpty();
        ChatCompletion rebuilt = accumulator.chatCompletion();
        String text = rebuilt.choices().getFirst().message().content().orElse("");
        assertThat(text).isEqualTo(deltas.toString());
        var usage = chunks.getLast().usage().orElseThrow();
        assertThat(usage.completionTokens()).isBetween(1L, 12L);

        // The same seed without streaming gives the same text.
        ChatCompletion whole = client.chat()
                .completions()
                .create(params.toBuilder().streamOptions(Optional.empty()).build());
        assertThat(whole.choices().getFirst().message().content()).contains(text);
    }

    @Test
    void structuredOutputParsedIntoAJavaClass() {
        // The SDK derives a strict JSON schema from the class; the gateway turns it into a grammar, so even this
        // model's random weights can only answer with JSON the SDK parses back into it.
        StructuredChatCompletion<Verdict> r = client.chat()
                .completions()
                .create(ChatCompletionCreateParams.builder()
                        .model(MODEL)
                        .addUserMessage("Judge this")
                        .maxCompletionTokens(400)
                        .responseFormat(Verdict.class)
                        .build());
        assertThat(r.choices().getFirst().finishReason().value())
                .isEqualTo(ChatCompletion.Choice.FinishReason.Value.STOP);
        Verdict verdict = r.choices().getFirst().message().content().orElseThrow();
        assertThat(verdict.mood).isNotNull();

        StructuredResponse<Verdict> response = client.responses()
                .create(ResponseCreateParams.builder()
                        .model(MODEL)
                        .input("Judge this")
                        .maxOutputTokens(400)
                        .text(Verdict.class)
                        .build());
        assertThat(response.status()).contains(ResponseStatus.COMPLETED);
        Verdict parsed = response.output()
                .getFirst()
                .message()
                .orElseThrow()
                .content()
                .getFirst()
                .outputText()
                .orElseThrow();
        assertThat(parsed.mood).isNotNull();
    }

    @Test
    void completions() {
        Completion r = client.completions()
                .create(CompletionCreateParams.builder()
                        .model(MODEL)
                        .prompt("Once upon a time")
                        .maxTokens(6)
                        .build());
        assertThat(r.id()).startsWith("cmpl-");
        assertThat(r.choices()).hasSize(1);
        assertThat(r.usage().orElseThrow().completionTokens()).isBetween(1L, 6L);

        // Legacy completion chunks carry "finish_reason": null until the last, as OpenAI sends them; the SDK's model
        // (one class for both) calls that invalid, so this one call goes unvalidated and the fields are read below.
        List<Completion> chunks = new ArrayList<>();
        try (StreamResponse<Completion> stream = client.withOptions(options -> options.responseValidation(false))
                .completions()
                .createStreaming(CompletionCreateParams.builder()
                        .model(MODEL)
                        .prompt("Once")
                        .maxTokens(6)
                        .build())) {
            stream.stream().forEach(chunks::add);
        }
        assertThat(chunks).isNotEmpty().allSatisfy(chunk -> {
            assertThat(chunk.id()).isEqualTo(chunks.getFirst().id());
            assertThat(chunk.choices())
                    .singleElement()
                    .satisfies(choice -> assertThat(choice.text()).isNotNull());
        });
        assertThat(chunks.getLast().choices().getFirst().finishReason().value())
                .isIn(CompletionChoice.FinishReason.Value.STOP, CompletionChoice.FinishReason.Value.LENGTH);
    }

    @Test
    void embeddingsInBothEncodings() {
        CreateEmbeddingResponse plain = client.embeddings()
                .create(EmbeddingCreateParams.builder()
                        .model(EMBEDDING_MODEL)
                        .input("hello")
                        .encodingFormat(EmbeddingCreateParams.EncodingFormat.FLOAT)
                        .build());
        CreateEmbeddingResponse packed = client.embeddings()
                .create(EmbeddingCreateParams.builder()
                        .model(EMBEDDING_MODEL)
                        .input("hello")
                        .encodingFormat(EmbeddingCreateParams.EncodingFormat.BASE64)
                        .build());
        List<Float> floats = plain.data().getFirst().embedding();
        // The SDK decodes base64 (little-endian float32) into the same list of floats.
        List<Float> decoded = packed.data().getFirst().embedding();
        assertThat(floats).isNotEmpty().hasSameSizeAs(decoded);
        for (int i = 0; i < floats.size(); i++) {
            assertThat(decoded.get(i)).isCloseTo(floats.get(i), within(1e-6f));
        }
        assertThat(plain.usage().promptTokens()).isPositive();
    }

    @Test
    void models() {
        List<String> ids = client.models().list().data().stream().map(Model::id).toList();
        assertThat(ids).contains(MODEL, EMBEDDING_MODEL);
        Model one = client.models().retrieve(MODEL);
        assertThat(one.id()).isEqualTo(MODEL);
        assertThat(one.ownedBy()).isNotBlank();
        // The SDK percent-encodes the slash of a Hugging Face style alias.
        assertThat(client.models()
                        .retrieve(InferencePlatformResource.LONG_MODEL_ALIAS)
                        .id())
                .isEqualTo(InferencePlatformResource.LONG_MODEL);
    }

    @Test
    void responsesAndTheirStreamRebuiltByTheSdk() {
        Response r = client.responses()
                .create(ResponseCreateParams.builder()
                        .model(MODEL)
                        .instructions("You are terse.")
                        .input("Say hello")
                        .maxOutputTokens(8)
                        .build());
        assertThat(r.id()).startsWith("resp_");
        assertThat(r.status().orElseThrow()).isIn(ResponseStatus.COMPLETED, ResponseStatus.INCOMPLETE);
        var usage = r.usage().orElseThrow();
        assertThat(usage.outputTokens()).isBetween(1L, 8L);
        assertThat(usage.totalTokens()).isEqualTo(usage.inputTokens() + usage.outputTokens());

        // Stored: retrieved as answered, continued, deleted.
        Response retrieved = client.responses().retrieve(r.id());
        assertThat(retrieved.id()).isEqualTo(r.id());
        assertThat(retrieved.usage()).isEqualTo(r.usage());
        Response next = client.responses()
                .create(ResponseCreateParams.builder()
                        .model(MODEL)
                        .input("And now?")
                        .previousResponseId(r.id())
                        .maxOutputTokens(4)
                        .build());
        assertThat(next.previousResponseId()).contains(r.id());
        client.responses().delete(r.id());
        assertThatThrownBy(() -> client.responses().retrieve(r.id())).isInstanceOf(NotFoundException.class);

        var accumulator = ResponseAccumulator.create();
        StringBuilder deltas = new StringBuilder();
        List<ResponseStreamEvent> events = new ArrayList<>();
        try (StreamResponse<ResponseStreamEvent> stream = client.responses()
                .createStreaming(ResponseCreateParams.builder()
                        .model(MODEL)
                        .input("Stream please")
                        .maxOutputTokens(12)
                        .build())) {
            stream.stream().forEach(event -> {
                events.add(event);
                accumulator.accumulate(event);
                event.outputTextDelta().ifPresent(d -> deltas.append(d.delta()));
            });
        }
        assertThat(events.getFirst().isCreated()).isTrue();
        assertThat(events.getLast().isCompleted() || events.getLast().isIncomplete())
                .isTrue();
        Response rebuilt = accumulator.response();
        String text = text(rebuilt);
        assertThat(text).isEqualTo(deltas.toString());
        assertThat(rebuilt.usage().orElseThrow().outputTokens()).isPositive();
    }

    @Test
    void errorsAreTheSdksExceptionsWithTheEnvelope() {
        var bad = assertThatThrownBy(() -> client.chat()
                        .completions()
                        .create(ChatCompletionCreateParams.builder()
                                .model(MODEL)
                                .addUserMessage("x")
                                .temperature(5.0)
                                .build()))
                .isInstanceOf(BadRequestException.class)
                .actual();
        envelope((OpenAIServiceException) bad, 400, "temperature", "invalid_value");

        var missing = assertThatThrownBy(() -> client.chat()
                        .completions()
                        .create(ChatCompletionCreateParams.builder()
                                .model("no-such-model")
                                .addUserMessage("x")
                                .build()))
                .isInstanceOf(NotFoundException.class)
                .actual();
        envelope((OpenAIServiceException) missing, 404, "model", "model_not_found");

        OpenAIClient stranger = client("sk-ff-not-a-real-key", builder -> builder.maxRetries(0));
        try {
            var unauthorized = assertThatThrownBy(() -> stranger.models().list())
                    .isInstanceOf(UnauthorizedException.class)
                    .actual();
            envelope((OpenAIServiceException) unauthorized, 401, null, "invalid_api_key");
        } finally {
            stranger.close();
        }

        var unknownPrevious = assertThatThrownBy(() -> client.responses()
                        .create(ResponseCreateParams.builder()
                                .model(MODEL)
                                .input("x")
                                .previousResponseId("resp_123")
                                .build()))
                .isInstanceOf(NotFoundException.class)
                .actual();
        envelope((OpenAIServiceException) unknownPrevious, 404, "previous_response_id", "previous_response_not_found");
        assertThatThrownBy(() -> client.responses().retrieve("resp_123")).isInstanceOf(NotFoundException.class);
    }

    @Test
    void anExhaustedQuotaIsARateLimitTheSdkDoesNotRetry() {
        var exhausted = tenants.exhausted();
        // The SDK's default retries: x-should-retry: false must stop them.
        OpenAIClient retrying = client(exhausted.key(), builder -> builder.maxRetries(2));
        try {
            var limited = assertThatThrownBy(() -> retrying.chat()
                            .completions()
                            .create(ChatCompletionCreateParams.builder()
                                    .model(MODEL)
                                    .addUserMessage("x")
                                    .maxTokens(1)
                                    .build()))
                    .isInstanceOf(RateLimitException.class)
                    .actual();
            envelope((OpenAIServiceException) limited, 429, null, "insufficient_quota");
            assertThat(((OpenAIServiceException) limited).headers().values("x-should-retry"))
                    .containsExactly("false");
        } finally {
            retrying.close();
        }
    }

    /** The text of a response's one message. */
    private static String text(Response response) {
        return response.output()
                .getFirst()
                .message()
                .orElseThrow()
                .content()
                .getFirst()
                .outputText()
                .orElseThrow()
                .text();
    }

    private static void envelope(OpenAIServiceException e, int status, String param, String code) {
        assertThat(e.statusCode()).isEqualTo(status);
        assertThat(e.type()).isPresent();
        assertThat(e.code()).contains(code);
        if (param == null) {
            assertThat(e.param()).isEmpty();
        } else {
            assertThat(e.param()).contains(param);
        }
        assertThat(e.getMessage()).doesNotContain("Exception");
    }
}
