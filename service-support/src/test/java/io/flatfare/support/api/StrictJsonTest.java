package io.flatfare.support.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StrictJsonTest {

    enum Color {
        RED,
        GREEN
    }

    record Message(String role, JsonNode content) {}

    record Body(
            Integer maxTokens,
            Long seed,
            Double temperature,
            Boolean stream,
            String user,
            List<Message> messages,
            Map<String, Integer> logitBias,
            Color color,
            Instant expiresAt) {}

    private static final ObjectMapper JSON = StrictJson.configure(new ObjectMapper()
            .findAndRegisterModules()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE));

    @Test
    void valuesOfTheirOwnTypeAreRead() throws Exception {
        Body body = JSON.readValue("""
                {"max_tokens": 5, "seed": -3, "temperature": 1, "stream": true, "user": "u-1",
                 "messages": [{"role": "user", "content": [{"type": "text", "text": "h\\u00e9 \\ud83d\\ude00"}]}],
                 "logit_bias": {"42": -100}, "color": "GREEN", "expires_at": "2030-01-01T00:00:00Z",
                 "unknown": "ignored"}
                """, Body.class);

        assertThat(body.maxTokens()).isEqualTo(5);
        assertThat(body.seed()).isEqualTo(-3L);
        assertThat(body.temperature()).isEqualTo(1.0); // an integer where a number is expected is a number
        assertThat(body.stream()).isTrue();
        assertThat(body.messages().get(0).content().get(0).get("text").asText()).isEqualTo("hé 😀");
        assertThat(body.logitBias()).containsEntry("42", -100);
        assertThat(body.color()).isEqualTo(Color.GREEN);
    }

    @Test
    void nullAndAbsentStayApartForFreeFormValues() throws Exception {
        assertThat(JSON.readValue("{\"role\": \"user\"}", Message.class).content())
                .isNull();
        assertThat(JSON.readValue("{\"role\": \"user\", \"content\": null}", Message.class)
                        .content()
                        .isNull())
                .isTrue();
        assertThat(JSON.readValue("{\"max_tokens\": null}", Body.class).maxTokens())
                .isNull();
    }

    @Test
    void aValueOfAnotherTypeIsRefusedNotConverted() {
        assertProblem(
                "{\"max_tokens\": 2.5}",
                "max_tokens",
                "invalid_type",
                "Invalid type for 'max_tokens': expected an integer, but got a decimal number instead.");
        assertProblem(
                "{\"max_tokens\": 2.0}",
                "max_tokens",
                "invalid_type",
                "Invalid type for 'max_tokens': expected an integer, but got a decimal number instead.");
        assertProblem(
                "{\"seed\": 1.7}",
                "seed",
                "invalid_type",
                "Invalid type for 'seed': expected an integer, but got a decimal number instead.");
        assertProblem(
                "{\"max_tokens\": \"5\"}",
                "max_tokens",
                "invalid_type",
                "Invalid type for 'max_tokens': expected an integer, but got a string instead.");
        assertProblem(
                "{\"max_tokens\": \"\"}",
                "max_tokens",
                "invalid_type",
                "Invalid type for 'max_tokens': expected an integer, but got a string instead.");
        assertProblem(
                "{\"temperature\": \"0.5\"}",
                "temperature",
                "invalid_type",
                "Invalid type for 'temperature': expected a number, but got a string instead.");
        assertProblem(
                "{\"stream\": 1}",
                "stream",
                "invalid_type",
                "Invalid type for 'stream': expected a boolean, but got an integer instead.");
        assertProblem(
                "{\"stream\": \"true\"}",
                "stream",
                "invalid_type",
                "Invalid type for 'stream': expected a boolean, but got a string instead.");
        assertProblem(
                "{\"user\": 5}",
                "user",
                "invalid_type",
                "Invalid type for 'user': expected a string, but got an integer instead.");
        assertProblem(
                "{\"user\": false}",
                "user",
                "invalid_type",
                "Invalid type for 'user': expected a string, but got a boolean instead.");
        assertProblem(
                "{\"messages\": \"hi\"}",
                "messages",
                "invalid_type",
                "Invalid type for 'messages': expected an array, but got a string instead.");
        assertProblem(
                "{\"messages\": [{\"role\": 5}]}",
                "messages[0].role",
                "invalid_type",
                "Invalid type for 'messages[0].role': expected a string, but got an integer instead.");
        assertProblem(
                "{\"logit_bias\": {\"42\": 1.5}}",
                "logit_bias.42",
                "invalid_type",
                "Invalid type for 'logit_bias.42': expected an integer, but got a decimal number instead.");
        assertProblem(
                "{\"color\": 0}",
                "color",
                "invalid_type",
                "Invalid type for 'color': expected a string, but got an integer instead.");
    }

    @Test
    void unusableValuesAndBrokenJsonSayWhich() {
        assertProblem(
                "{\"max_tokens\": 99999999999999999999}",
                "max_tokens",
                "invalid_value",
                "Invalid value for 'max_tokens': the number is out of range for an integer.");
        assertProblem(
                "{\"expires_at\": \"yesterday\"}", "expires_at", "invalid_value", "Invalid value for 'expires_at'.");
        assertProblem("{\"color\": \"BLUE\"}", "color", "invalid_value", "Invalid value for 'color'.");
        // Cut off inside an array: not "Invalid type for 'messages'", the body is not JSON at all.
        assertProblem(
                "{\"messages\": [{\"role\": \"user\"}", null, "invalid_json", "The request body is not valid JSON.");
        assertProblem("{\"temperature\": NaN}", null, "invalid_json", "The request body is not valid JSON.");
        assertProblem("[]", null, "invalid_json", "The request body is not a valid JSON object for this endpoint.");
        // One value per body: what follows it was read past before.
        assertProblem("{\"user\": \"a\"} xyz", null, "invalid_json", "The request body is not valid JSON.");
        assertProblem(
                "{\"user\": \"a\"} {\"user\": \"b\"}",
                null,
                "invalid_json",
                "The request body is not a valid JSON object for this endpoint.");
    }

    @Test
    void whitespaceAfterTheBodyIsFine() throws Exception {
        assertThat(JSON.readValue("{\"user\": \"a\"}\r\n\t ", Body.class).user())
                .isEqualTo("a");
    }

    @Test
    void textMustBeUnicodeWhereverItIs() {
        String refused = "the text has an unpaired UTF-16 surrogate; send valid Unicode text.";
        assertProblem("{\"user\": \"a\\ud800b\"}", "user", "invalid_value", "Invalid value for 'user': " + refused);
        assertProblem("{\"user\": \"\\udc00\"}", "user", "invalid_value", "Invalid value for 'user': " + refused);
        assertProblem("{\"user\": \"end\\ud83d\"}", "user", "invalid_value", "Invalid value for 'user': " + refused);
        assertProblem(
                "{\"messages\": [{\"role\": \"user\", \"content\": \"\\ud800\"}]}",
                "messages[0].content",
                "invalid_value",
                "Invalid value for 'messages[0].content': " + refused);
        assertProblem(
                "{\"messages\": [{\"content\": [{\"type\": \"text\", \"text\": \"x\\udfff\"}]}]}",
                "messages[0].content",
                "invalid_value",
                "Invalid value for 'messages[0].content': " + refused);
        assertProblem(
                "{\"messages\": [{\"content\": {\"\\ud800\": 1}}]}",
                "messages[0].content",
                "invalid_value",
                "Invalid value for 'messages[0].content': " + refused);
    }

    @Test
    void theSurrogateCheckKnowsPairsFromOrphans() {
        assertThat(StrictJson.wellFormed("")).isTrue();
        assertThat(StrictJson.wellFormed("plain ascii")).isTrue();
        assertThat(StrictJson.wellFormed("😀😀")).isTrue();
        assertThat(StrictJson.wellFormed("\ud83d")).isFalse();
        assertThat(StrictJson.wellFormed("\ude00\ud83d")).isFalse();
        assertThat(StrictJson.wellFormed("\ud83d\ud83d\ude00")).isFalse();
    }

    private static void assertProblem(String json, String param, String code, String message) {
        JsonProcessingException e =
                catchThrowableOfType(JsonProcessingException.class, () -> JSON.readValue(json, Body.class));
        assertThat(e).as("reading %s", json).isNotNull();
        JsonProblem problem = JsonProblem.of(e);
        assertThat(problem.message()).as(json).isEqualTo(message);
        assertThat(problem.param()).as(json).isEqualTo(param);
        assertThat(problem.code()).as(json).isEqualTo(code);
    }
}
