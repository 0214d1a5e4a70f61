package io.flatfare.gateway.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.flatfare.contracts.events.Endpoint;
import io.flatfare.contracts.inference.v1.ChoiceDelta;
import io.flatfare.contracts.inference.v1.ChoiceFinished;
import io.flatfare.contracts.inference.v1.FinishReason;
import io.flatfare.contracts.inference.v1.GenerateDone;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.inference.v1.Usage;
import io.flatfare.contracts.registry.v1.Capability;
import io.flatfare.gateway.api.dto.ResponseRequest;
import io.flatfare.gateway.responses.ResponseStore;
import io.flatfare.gateway.responses.ResponseStoreUnavailableException;
import io.flatfare.gateway.responses.ResponsesConfig;
import io.flatfare.gateway.responses.StoredResponse.Turn;
import io.flatfare.gateway.routing.ResolvedModel;
import io.flatfare.gateway.service.V1Call;
import io.vertx.core.buffer.Buffer;
import java.lang.reflect.Proxy;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

/** The Responses API's events, on made-up inference events: the edges a real model seldom reaches. */
class ResponsesAnswerTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final ResolvedModel MODEL = new ResolvedModel(
            "m", List.of(), "flatfare", Instant.EPOCH, EnumSet.of(Capability.CHAT), 2048, 0, "small", 1);

    static ResponsesAnswer answer() throws Exception {
        return answer(null);
    }

    static ResponsesAnswer answer(ResponsesAnswer.Storing storing) throws Exception {
        V1Call call = new V1Call("req_0123", "req_0123", Instant.ofEpochSecond(1_800_000_000), 0, Map.of());
        call.endpoint(Endpoint.RESPONSES, true, 1);
        call.model(MODEL, "m");
        // As the gateway reads bodies: snake_case on the wire.
        ResponseRequest request = JSON.copy()
                .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .readValue("{\"model\":\"m\",\"input\":\"hi\",\"max_output_tokens\":2}", ResponseRequest.class);
        return new ResponsesAnswer(JSON, call, request, storing);
    }

    static List<JsonNode> events(List<Buffer> frames) throws Exception {
        StringBuilder body = new StringBuilder();
        frames.forEach(frame -> body.append(frame.toString()));
        return ResponsesApiTest.typedEvents(body.toString());
    }

    static GenerateResponse delta(String text) {
        return GenerateResponse.newBuilder()
                .setDelta(ChoiceDelta.newBuilder().setIndex(0).setText(text))
                .build();
    }

    @Test
    void aFailureAfterTheFirstEventIsAnErrorEventTheSdksRaise() throws Exception {
        ResponsesAnswer answer = answer();
        List<Buffer> frames = new ArrayList<>(answer.frames(delta("Hel")));
        frames.add(answer.failure(OpenAiException.internal()));
        List<JsonNode> events = events(frames);
        JsonNode error = events.getLast();
        assertThat(frames.getLast().toString()).startsWith("event: error\ndata: ");
        assertThat(error.get("type").asText()).isEqualTo("error");
        assertThat(error.get("sequence_number").asInt()).isEqualTo(events.size() - 1);
        assertThat(error.get("message").asText()).isEqualTo("The server had an error while processing your request.");
        // The member the SDKs look for to raise an APIError, with the envelope's four keys.
        assertThat(error.get("error").get("type").asText()).isEqualTo("server_error");
        assertThat(error.get("error").has("param")).isTrue();
        assertThat(error.get("error").has("code")).isTrue();
    }

    @Test
    void aStreamWithNoTextStillOpensAndClosesItsMessageAndStopsAtTheLimitAsIncomplete() throws Exception {
        ResponsesAnswer answer = answer();
        List<Buffer> frames = new ArrayList<>();
        frames.addAll(answer.frames(GenerateResponse.newBuilder()
                .setChoiceFinished(ChoiceFinished.newBuilder().setIndex(0).setFinishReason(FinishReason.LENGTH))
                .build()));
        frames.addAll(answer.frames(GenerateResponse.newBuilder()
                .setDone(GenerateDone.newBuilder()
                        .setUsage(Usage.newBuilder().setPromptTokens(3).setCompletionTokens(2)))
                .build()));
        frames.addAll(answer.end());
        List<JsonNode> events = events(frames);
        assertThat(events)
                .extracting(e -> e.get("type").asText())
                .containsExactly(
                        "response.created",
                        "response.in_progress",
                        "response.output_item.added",
                        "response.content_part.added",
                        "response.output_text.done",
                        "response.content_part.done",
                        "response.output_item.done",
                        "response.incomplete");
        JsonNode last = events.getLast().get("response");
        assertThat(last.get("status").asText()).isEqualTo("incomplete");
        assertThat(last.at("/incomplete_details/reason").asText()).isEqualTo("max_output_tokens");
        assertThat(last.at("/output/0/status").asText()).isEqualTo("incomplete");
        assertThat(last.at("/usage/total_tokens").asInt()).isEqualTo(5);
        assertThat(last.get("id").asText()).isEqualTo("resp_0123");
    }

    /** Stored responses on a database that cannot be reached. */
    static ResponseStore unreachableStore() {
        DataSource down = (DataSource) Proxy.newProxyInstance(
                ResponsesAnswerTest.class.getClassLoader(),
                new Class<?>[] {DataSource.class},
                (proxy, method, args) -> {
                    throw new SQLException("connection refused", "08001");
                });
        ResponsesConfig config = new ResponsesConfig() {
            @Override
            public boolean store() {
                return true;
            }

            @Override
            public Duration retention() {
                return Duration.ofDays(30);
            }

            @Override
            public Duration databaseTimeout() {
                return Duration.ofSeconds(5);
            }

            @Override
            public Duration purgeInterval() {
                return Duration.ofHours(1);
            }
        };
        return new ResponseStore(down, JSON, config);
    }

    @Test
    void aStoreThatCannotBeReachedIsA503TheSdksRetry() {
        ResponseStore store = unreachableStore();
        assertThatThrownBy(() -> store.find("acct", "resp_x"))
                .isInstanceOf(ResponseStoreUnavailableException.class)
                .hasMessage("Reading response resp_x failed (SQL state 08001)");
        OpenAiException error =
                Failures.toOpenAi(catchThrowable(() -> store.delete("acct", "resp_x")), Duration.ofSeconds(2));
        assertThat(error.status()).isEqualTo(503);
        assertThat(error.code()).isEqualTo("storage_unavailable");
        assertThat(error.headers()).containsEntry("retry-after", "2");
    }

    @Test
    void aStoreThatFailsLosesNothingAnsweredAndTheAnswerSaysItIsNotStored() throws Exception {
        ResponsesAnswer answer = answer(
                new ResponsesAnswer.Storing(unreachableStore(), "acct", List.of(), List.of(new Turn("user", "hi"))));
        List<Buffer> frames = new ArrayList<>(answer.frames(delta("Hi")));
        assertThat(events(frames).getFirst().at("/response/store").asBoolean()).isTrue();
        frames.addAll(answer.frames(GenerateResponse.newBuilder()
                .setDone(GenerateDone.newBuilder()
                        .setUsage(Usage.newBuilder().setPromptTokens(3).setCompletionTokens(1)))
                .build()));

        // Runs the store on a worker thread and recovers from its failure: the call goes on to its end.
        assertThat(answer.finishing().await().atMost(Duration.ofSeconds(10))).isNull();
        frames.addAll(answer.end());
        JsonNode last = events(frames).getLast().get("response");
        assertThat(last.get("status").asText()).isEqualTo("completed");
        assertThat(last.at("/output/0/content/0/text").asText()).isEqualTo("Hi");
        assertThat(last.get("store").asBoolean()).isFalse();
        assertThat(JSON.readTree(answer.response()).get("store").asBoolean()).isFalse();
    }
}
