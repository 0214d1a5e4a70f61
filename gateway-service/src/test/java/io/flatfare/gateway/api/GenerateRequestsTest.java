package io.flatfare.gateway.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.ResponseFormat;
import io.flatfare.contracts.registry.v1.Capability;
import io.flatfare.gateway.account.Plan;
import io.flatfare.gateway.api.dto.ChatCompletionRequest;
import io.flatfare.gateway.api.dto.CompletionRequest;
import io.flatfare.gateway.routing.ResolvedModel;
import io.flatfare.gateway.service.V1Call;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Each OpenAI parameter reaches the {@code Generate} call it asks for, or is refused naming itself: a parameter that
 * got lost on the way would be silently ignored, which no answer's shape would show.
 */
class GenerateRequestsTest {

    /** As the gateway reads bodies: snake_case on the wire, unknown fields ignored. */
    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private static final ResolvedModel MODEL = new ResolvedModel(
            "m",
            List.of(),
            "flatfare",
            Instant.EPOCH,
            EnumSet.of(Capability.CHAT, Capability.COMPLETION),
            4096,
            0,
            "small",
            1);
    private static final Plan OPEN = new Plan("open", Set.of(Plan.ALL_MODELS), Set.of(), null, null, null, null, null);
    private static final Instant DEADLINE = Instant.ofEpochSecond(1_800_000_000, 5_000_000);
    private static final int MAX_PROMPTS = 3;

    private static GenerateRequest chat(String json) throws Exception {
        return chat(json, OPEN, MODEL);
    }

    private static GenerateRequest chat(String json, Plan plan, ResolvedModel model) throws Exception {
        V1Call call = new V1Call("req_1", "req_1", Instant.EPOCH, 0, Map.of());
        return GenerateRequests.chat(JSON.readValue(json, ChatCompletionRequest.class), call, plan, model, DEADLINE);
    }

    private static List<GenerateRequest> completions(String json, Plan plan) throws Exception {
        V1Call call = new V1Call("req_2", "req_2", Instant.EPOCH, 0, Map.of());
        return GenerateRequests.completion(
                JSON.readValue(json, CompletionRequest.class), call, plan, MODEL, DEADLINE, MAX_PROMPTS);
    }

    private static GenerateRequest completion(String json) throws Exception {
        List<GenerateRequest> requests = completions(json, OPEN);
        assertThat(requests).hasSize(1);
        return requests.getFirst();
    }

    @Test
    void everySamplingParameterOfChatReachesTheCall() throws Exception {
        GenerateRequest r = chat("""
                {"model": "m", "messages": [{"role": "developer", "content": "Be brief."},
                                            {"role": "user", "content": [{"type": "text", "text": "Hi"},
                                                                         {"type": "text", "text": " there"}],
                                             "name": "ann"}],
                 "max_tokens": 50, "max_completion_tokens": 7, "n": 2, "temperature": 0.5, "top_p": 0.9,
                 "seed": 42, "stop": ["END", "\\n\\n"], "presence_penalty": 1.5, "frequency_penalty": -0.5,
                 "logit_bias": {"261": -100, "7": 2.5}, "user": "someone", "some_future_field": {"x": 1}}""");

        assertThat(r.getRequestId()).isEqualTo("req_1");
        assertThat(r.getModel()).isEqualTo("m");
        assertThat(r.getChat().getMessagesList())
                .extracting(m -> m.getRole(), m -> m.getContent(), m -> m.getName())
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("system", "Be brief.", ""),
                        org.assertj.core.groups.Tuple.tuple("user", "Hi there", "ann"));
        var s = r.getSampling();
        assertThat(s.getMaxTokens())
                .as("max_completion_tokens wins over max_tokens")
                .isEqualTo(7);
        assertThat(s.getN()).isEqualTo(2);
        assertThat(s.getTemperature()).isEqualTo(0.5f);
        assertThat(s.getTopP()).isEqualTo(0.9f);
        assertThat(s.getSeed()).isEqualTo(42L);
        assertThat(s.getStopList()).containsExactly("END", "\n\n");
        assertThat(s.getPresencePenalty()).isEqualTo(1.5f);
        assertThat(s.getFrequencyPenalty()).isEqualTo(-0.5f);
        assertThat(s.getLogitBiasMap()).containsOnly(Map.entry(261, -100f), Map.entry(7, 2.5f));
        assertThat(r.getDeadline().getSeconds()).isEqualTo(DEADLINE.getEpochSecond());
        assertThat(r.getDeadline().getNanos()).isEqualTo(DEADLINE.getNano());
        assertThat(r.hasResponseFormat()).isFalse();
    }

    @Test
    void whatAChatRequestLeavesOutIsLeftToTheEngine() throws Exception {
        var s = chat("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"stop\": \"x\"}")
                .getSampling();
        assertThat(s.hasMaxTokens()).isFalse();
        assertThat(s.hasMaxTokensCap()).isFalse();
        assertThat(s.hasTemperature()).isFalse();
        assertThat(s.hasTopP()).isFalse();
        assertThat(s.hasSeed()).isFalse();
        assertThat(s.hasPresencePenalty()).isFalse();
        assertThat(s.getN()).isEqualTo(1);
        assertThat(s.getStopList()).as("a string stop").containsExactly("x");
    }

    @Test
    void responseFormatsBecomeTheEnginesOwn() throws Exception {
        String messages = "\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]";
        assertThat(chat("{\"model\": \"m\", " + messages + ", \"response_format\": {\"type\": \"json_object\"}}")
                        .getResponseFormat()
                        .getType())
                .isEqualTo(ResponseFormat.Type.JSON_OBJECT);
        ResponseFormat schema = chat("{\"model\": \"m\", " + messages + ", \"response_format\": {\"type\":"
                        + " \"json_schema\", \"json_schema\": {\"name\": \"verdict\", \"strict\": true, \"schema\":"
                        + " {\"type\": \"object\", \"properties\": {\"ok\": {\"type\": \"boolean\"}}}}}}")
                .getResponseFormat();
        assertThat(schema.getType()).isEqualTo(ResponseFormat.Type.JSON_SCHEMA);
        assertThat(schema.getSchemaName()).isEqualTo("verdict");
        assertThat(schema.getStrict()).isTrue();
        assertThat(JSON.readTree(schema.getJsonSchema()))
                .isEqualTo(JSON.readTree("{\"type\": \"object\", \"properties\": {\"ok\": {\"type\": \"boolean\"}}}"));
    }

    @Test
    void thePlansOutputLimitIsSharedByTheChoicesAndNamesTheParameterUsed() throws Exception {
        Plan small = new Plan("small", Set.of(Plan.ALL_MODELS), Set.of(), null, null, null, null, 100);
        String messages = "\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]";
        assertThat(chat("{\"model\": \"m\", " + messages + ", \"n\": 4}", small, MODEL)
                        .getSampling()
                        .getMaxTokensCap())
                .isEqualTo(25);
        assertThatThrownBy(() -> chat(
                        "{\"model\": \"m\", " + messages + ", \"n\": 4, \"max_completion_tokens\": 26}", small, MODEL))
                .isInstanceOfSatisfying(OpenAiException.class, e -> {
                    assertThat(e.status()).isEqualTo(400);
                    assertThat(e.param()).isEqualTo("max_completion_tokens");
                });
    }

    @Test
    void aCompletionCarriesItsPromptEchoAndTheDefaultLength() throws Exception {
        GenerateRequest r = completion(
                "{\"model\": \"m\", \"prompt\": [\"Once upon\"], \"echo\": true, \"stop\": \"\\n\", \"seed\": 3}");
        assertThat(r.getPrompt()).isEqualTo("Once upon");
        assertThat(r.getEcho()).isTrue();
        assertThat(r.getSampling().getMaxTokens())
                .as("OpenAI's default for completions")
                .isEqualTo(16);
        assertThat(r.getSampling().getStopList()).containsExactly("\n");
        assertThat(r.getSampling().getSeed()).isEqualTo(3L);
        assertThat(r.hasSuffix()).isFalse();
    }

    @Test
    void severalPromptsAreOneCallEachSharingThePlansLimits() throws Exception {
        Plan small = new Plan("small", Set.of(Plan.ALL_MODELS), Set.of(), null, null, null, 12, 120);
        List<GenerateRequest> batch = completions(
                "{\"model\": \"m\", \"prompt\": [\"One\", \"Two\", \"Six\"], \"n\": 2, \"seed\": 9}", small);
        assertThat(batch).extracting(GenerateRequest::getPrompt).containsExactly("One", "Two", "Six");
        for (GenerateRequest r : batch) {
            assertThat(r.getRequestId()).isEqualTo("req_2");
            assertThat(r.getSampling().getN()).isEqualTo(2);
            assertThat(r.getSampling().getSeed()).isEqualTo(9L);
            // 120 output tokens for the request, 6 choices: 20 each, and 16 (OpenAI's default) is less.
            assertThat(r.getSampling().getMaxTokens()).isEqualTo(16);
        }
        assertThatThrownBy(() -> completions(
                        "{\"model\": \"m\", \"prompt\": [\"One\", \"Two\"], \"n\": 2, \"max_tokens\": 31}", small))
                .isInstanceOfSatisfying(OpenAiException.class, e -> {
                    assertThat(e.param()).isEqualTo("max_tokens");
                    assertThat(e.getMessage())
                            .contains("4 choices (2 prompts × 'n')")
                            .contains("30 per choice");
                });
        // The plan's prompt size is that of all prompts together: 13 characters here.
        assertThatThrownBy(() -> completions("{\"model\": \"m\", \"prompt\": [\"One two\", \"three!\"]}", small))
                .isInstanceOfSatisfying(OpenAiException.class, e -> {
                    assertThat(e.param()).isEqualTo("prompt");
                    assertThat(e.code()).isEqualTo("prompt_too_large");
                });
        assertThatThrownBy(() -> completions("{\"model\": \"m\", \"prompt\": [\"a\", \"b\", \"c\", \"d\"]}", OPEN))
                .isInstanceOfSatisfying(OpenAiException.class, e -> {
                    assertThat(e.param()).isEqualTo("prompt");
                    assertThat(e.code()).isEqualTo("invalid_value");
                    assertThat(e.getMessage()).contains("at most 3");
                });
        for (String prompt : List.of("[1, 2]", "[[1, 2]]")) {
            assertThatThrownBy(() -> completions("{\"model\": \"m\", \"prompt\": " + prompt + "}", OPEN))
                    .isInstanceOfSatisfying(
                            OpenAiException.class, e -> assertThat(e.code()).isEqualTo("unsupported_parameter"));
        }
        for (String prompt : List.of("[]", "[\"a\", 1]", "{}", "7")) {
            assertThatThrownBy(() -> completions("{\"model\": \"m\", \"prompt\": " + prompt + "}", OPEN))
                    .isInstanceOfSatisfying(OpenAiException.class, e -> {
                        assertThat(e.param()).isEqualTo("prompt");
                        assertThat(e.code()).isEqualTo("invalid_value");
                    });
        }
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}] | tools",
                "\"tool_choice\": \"auto\" | tool_choice",
                "\"parallel_tool_calls\": true | parallel_tool_calls",
                "\"functions\": [{\"name\": \"f\"}] | functions",
                "\"function_call\": \"auto\" | function_call",
                "\"audio\": {\"voice\": \"alloy\", \"format\": \"wav\"} | audio",
                "\"modalities\": [\"text\", \"audio\"] | modalities",
                "\"prediction\": {\"type\": \"content\", \"content\": \"x\"} | prediction",
                "\"web_search_options\": {} | web_search_options",
                "\"logprobs\": true | logprobs",
                "\"top_logprobs\": 2 | top_logprobs",
            })
    void aKnownFeatureThisReleaseCannotHonourIsRefusedNamingItself(String field, String param) {
        String json = "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], " + field + "}";
        assertThatThrownBy(() -> chat(json)).isInstanceOfSatisfying(OpenAiException.class, e -> {
            assertThat(e.status()).isEqualTo(400);
            assertThat(e.code()).isEqualTo("unsupported_parameter");
            assertThat(e.param()).isEqualTo(param);
        });
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "{\"role\": \"tool\", \"content\": \"42\", \"tool_call_id\": \"c\"} | messages[0].role",
                "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"c\"}]} | messages[0].tool_calls",
                "{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}"
                        + " | messages[0].content[0].type",
            })
    void aMessageThatNeedsAFeatureThisReleaseCannotHonourIsRefusedNamingIt(String message, String param) {
        String json = "{\"model\": \"m\", \"messages\": [" + message + "]}";
        assertThatThrownBy(() -> chat(json)).isInstanceOfSatisfying(OpenAiException.class, e -> {
            assertThat(e.code()).isEqualTo("unsupported_parameter");
            assertThat(e.param()).isEqualTo(param);
        });
    }

    @Test
    void emptyListsAndFalseAskForNothingUnsupported() throws Exception {
        GenerateRequest r = chat("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}],"
                + " \"tools\": [], \"functions\": [], \"parallel_tool_calls\": false, \"logprobs\": false,"
                + " \"modalities\": [\"text\"]}");
        assertThat(r.getChat().getMessagesCount()).isEqualTo(1);
    }

    @Test
    void fieldsTheParityListAcceptsAndIgnoresAreAccepted() throws Exception {
        // OPENAI-PARITY: user, metadata, store, service_tier, reasoning_effort are accepted and ignored.
        GenerateRequest r = chat("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}],"
                + " \"user\": \"u-1\", \"metadata\": {\"k\": \"v\"}, \"store\": true, \"service_tier\": \"auto\","
                + " \"reasoning_effort\": \"low\"}");
        assertThat(r.getChat().getMessages(0).getContent()).isEqualTo("Hi");
    }
}
