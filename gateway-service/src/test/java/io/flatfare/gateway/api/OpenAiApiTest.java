package io.flatfare.gateway.api;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.notNullValue;
import static org.hamcrest.Matchers.nullValue;
import static org.hamcrest.Matchers.startsWith;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.contracts.events.Endpoint;
import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.gateway.account.Plan;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The {@code /v1} API over a real inference process (tiny model), a real registry, PostgreSQL, Redis and Kafka:
 * response shapes, streaming, errors with their exact envelopes, and one usage event per request.
 */
@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OpenAiApiTest {

    static final String MODEL = "flatfare-tiny";
    static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    Tenants tenants;

    @Inject
    MeterRegistry meters;

    Tenants.Tenant tenant;
    UsageTopic usage;

    @BeforeAll
    void setUp() {
        tenant = tenants.generous();
        usage = new UsageTopic();
    }

    @AfterAll
    void tearDown() {
        usage.close();
    }

    Response post(String path, Object body) {
        return given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(body)
                .post(path);
    }

    static Map<String, Object> chat(Object... extra) {
        var body = new java.util.LinkedHashMap<String, Object>();
        body.put("model", MODEL);
        body.put("messages", List.of(Map.of("role", "user", "content", "Hello there")));
        body.put("max_tokens", 8);
        for (int i = 0; i < extra.length; i += 2) {
            body.put((String) extra[i], extra[i + 1]);
        }
        return body;
    }

    /** The JSON payloads of an SSE body, checking the framing on the way. */
    static List<String> events(String body) {
        assertThat(body).endsWith("data: [DONE]\n\n");
        List<String> out = new ArrayList<>();
        for (String frame : body.split("\n\n")) {
            assertThat(frame).startsWith("data: ");
            out.add(frame.substring("data: ".length()));
        }
        return out;
    }

    @Test
    void chatCompletionHasOpenAisShapeHeadersAndOneUsageEvent() throws Exception {
        Response response = post("/v1/chat/completions", chat("model", "tiny", "seed", 3));
        response.then()
                .statusCode(200)
                .contentType(ContentType.JSON)
                .header("x-request-id", startsWith("req_"))
                .header("openai-processing-ms", notNullValue())
                .header("x-flatfare-price-tier", equalTo("small"))
                .body("id", startsWith("chatcmpl-"))
                .body("object", equalTo("chat.completion"))
                .body("model", equalTo(MODEL))
                .body("choices[0].index", equalTo(0))
                .body("choices[0].message.role", equalTo("assistant"))
                .body("choices[0].finish_reason", org.hamcrest.Matchers.oneOf("stop", "length"));
        // One write with its length (HTTP/1.1), not chunks: the client has the whole answer with it.
        assertThat(response.header("transfer-encoding")).isNull();
        assertThat(response.header("content-length")).isEqualTo(String.valueOf(response.asByteArray().length));
        JsonNode json = JSON.readTree(response.asString());
        assertThat(json.get("created").asLong()).isPositive();
        assertThat(json.has("system_fingerprint")).isTrue();
        JsonNode u = json.get("usage");
        assertThat(u.get("prompt_tokens").asInt()).isPositive();
        assertThat(u.get("completion_tokens").asInt()).isBetween(1, 8);
        assertThat(u.get("total_tokens").asInt())
                .isEqualTo(u.get("prompt_tokens").asInt()
                        + u.get("completion_tokens").asInt());

        UsageEvent event = usage.await(response.header("x-request-id"));
        assertThat(event.accountId()).isEqualTo(tenant.account());
        assertThat(event.apiKeyId()).isEqualTo(tenant.keyId());
        assertThat(event.model()).isEqualTo(MODEL);
        assertThat(event.modelAlias()).isEqualTo("tiny");
        assertThat(event.endpoint()).isEqualTo(Endpoint.CHAT_COMPLETIONS);
        assertThat(event.outcome()).isEqualTo(Outcome.COMPLETED);
        assertThat(event.billable()).isTrue();
        assertThat(event.httpStatus()).isEqualTo(200);
        assertThat(event.promptTokens()).isEqualTo(u.get("prompt_tokens").asInt());
        assertThat(event.completionTokens())
                .isEqualTo(u.get("completion_tokens").asInt());
        assertThat(event.instanceId()).isEqualTo("gw-test-1");
        assertThat(event.timeToFirstTokenMs()).isNotNull();
    }

    @Test
    void sameSeedSameAnswer() {
        String a = post("/v1/chat/completions", chat("seed", 42, "temperature", 1.0))
                .then()
                .statusCode(200)
                .extract()
                .path("choices[0].message.content");
        String b = post("/v1/chat/completions", chat("seed", 42, "temperature", 1.0))
                .then()
                .statusCode(200)
                .extract()
                .path("choices[0].message.content");
        assertThat(a).isEqualTo(b);
    }

    @Test
    void streamingSendsChunksUsageAndDone() throws Exception {
        Response response =
                post("/v1/chat/completions", chat("stream", true, "stream_options", Map.of("include_usage", true)));
        response.then()
                .statusCode(200)
                .header("content-type", startsWith("text/event-stream"))
                .header("transfer-encoding", equalTo("chunked"))
                .header("content-length", nullValue());
        List<String> events = events(response.asString());
        assertThat(events.getLast()).isEqualTo("[DONE]");
        List<JsonNode> chunks = new ArrayList<>();
        for (String e : events.subList(0, events.size() - 1)) {
            chunks.add(JSON.readTree(e));
        }
        JsonNode usageChunk = chunks.getLast();
        assertThat(usageChunk.get("choices")).isEmpty();
        assertThat(usageChunk.get("usage").get("completion_tokens").asInt()).isBetween(1, 8);
        List<JsonNode> content = chunks.subList(0, chunks.size() - 1);
        assertThat(content).isNotEmpty().allSatisfy(c -> {
            assertThat(c.get("object").asText()).isEqualTo("chat.completion.chunk");
            assertThat(c.get("id").asText())
                    .isEqualTo(chunks.getFirst().get("id").asText());
            assertThat(c.get("usage").isNull()).isTrue();
            // From the first chunk on, as OpenAI's: inference sends it with the stream's first message.
            assertThat(c.get("system_fingerprint").asText())
                    .startsWith("fp_")
                    .isEqualTo(usageChunk.get("system_fingerprint").asText());
        });
        assertThat(content.getFirst().at("/choices/0/delta/role").asText()).isEqualTo("assistant");
        assertThat(content.getLast().at("/choices/0/finish_reason").asText()).isIn("stop", "length");

        UsageEvent event = usage.await(response.header("x-request-id"));
        assertThat(event.stream()).isTrue();
        assertThat(event.outcome()).isEqualTo(Outcome.COMPLETED);
        assertThat(event.completionTokens())
                .isEqualTo(usageChunk.get("usage").get("completion_tokens").asInt());
    }

    @Test
    void withoutIncludeUsageChunksCarryNoUsageKey() throws Exception {
        List<String> events =
                events(post("/v1/chat/completions", chat("stream", true)).asString());
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode chunk = JSON.readTree(e);
            assertThat(chunk.get("choices")).isNotEmpty();
            assertThat(chunk.has("usage")).isFalse();
        }
    }

    @Test
    void nChoicesInJsonAndInStreams() throws Exception {
        post("/v1/chat/completions", chat("n", 3))
                .then()
                .statusCode(200)
                .body("choices.index", equalTo(List.of(0, 1, 2)));
        List<String> events = events(
                post("/v1/chat/completions", chat("n", 2, "stream", true)).asString());
        Set<Integer> indices = new java.util.TreeSet<>();
        int roles = 0;
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode choice = JSON.readTree(e).at("/choices/0");
            indices.add(choice.get("index").asInt());
            roles += choice.at("/delta/role").isMissingNode() ? 0 : 1;
        }
        assertThat(indices).containsExactly(0, 1);
        assertThat(roles).isEqualTo(2);
    }

    @Test
    void legacyCompletionsInJsonAndStream() throws Exception {
        Map<String, Object> body = Map.of("model", MODEL, "prompt", "Once upon a time", "max_tokens", 5);
        post("/v1/completions", body)
                .then()
                .statusCode(200)
                .body("id", startsWith("cmpl-"))
                .body("object", equalTo("text_completion"))
                .body("choices[0].text", notNullValue())
                .body("usage.completion_tokens", org.hamcrest.Matchers.lessThanOrEqualTo(5));
        Map<String, Object> streamed =
                Map.of("model", MODEL, "prompt", List.of("Once"), "max_tokens", 5, "stream", true);
        List<String> events = events(post("/v1/completions", streamed).asString());
        assertThat(JSON.readTree(events.getFirst()).get("object").asText()).isEqualTo("text_completion");
    }

    @Test
    void severalPromptsInOneCompletionsRequestAreAnsweredAsEachAloneNumberedAsOpenAiDoes() throws Exception {
        List<String> prompts = List.of("Once upon a time", "The cat");
        Map<String, Object> sampling = Map.of("model", MODEL, "n", 2, "max_tokens", 4, "seed", 11, "echo", true);
        // Each prompt alone, with the same seed: what the batch must answer at index prompt × n + choice.
        List<String> alone = new ArrayList<>();
        int promptTokens = 0;
        int completionTokens = 0;
        for (String prompt : prompts) {
            var body = new java.util.HashMap<>(sampling);
            body.put("prompt", prompt);
            JsonNode one = JSON.readTree(post("/v1/completions", body)
                    .then()
                    .statusCode(200)
                    .extract()
                    .asString());
            for (JsonNode choice : one.get("choices")) {
                assertThat(choice.get("text").asText()).startsWith(prompt);
                alone.add(choice.get("text").asText());
            }
            promptTokens += one.at("/usage/prompt_tokens").asInt();
            completionTokens += one.at("/usage/completion_tokens").asInt();
        }

        var batch = new java.util.HashMap<>(sampling);
        batch.put("prompt", prompts);
        Response answer = post("/v1/completions", batch);
        JsonNode json = JSON.readTree(answer.then().statusCode(200).extract().asString());
        assertThat(json.get("object").asText()).isEqualTo("text_completion");
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < json.get("choices").size(); i++) {
            JsonNode choice = json.get("choices").get(i);
            assertThat(choice.get("index").asInt()).isEqualTo(i);
            assertThat(choice.get("finish_reason").asText()).isIn("stop", "length");
            texts.add(choice.get("text").asText());
        }
        assertThat(texts).isEqualTo(alone);
        assertThat(json.at("/usage/prompt_tokens").asInt()).isEqualTo(promptTokens);
        assertThat(json.at("/usage/completion_tokens").asInt()).isEqualTo(completionTokens);
        UsageEvent event = usage.await(answer.header("x-request-id"));
        assertThat(event.n()).isEqualTo(4);
        assertThat(event.promptTokens()).isEqualTo(promptTokens);
        assertThat(event.completionTokens()).isEqualTo(completionTokens);
        assertThat(event.billable()).isTrue();

        batch.put("stream", true);
        batch.put("stream_options", Map.of("include_usage", true));
        Response streamed = post("/v1/completions", batch);
        StringBuilder[] byIndex = new StringBuilder[4];
        String[] finished = new String[4];
        JsonNode last = null;
        for (String event2 : events(streamed.asString())) {
            if (event2.equals("[DONE]")) {
                break;
            }
            JsonNode chunk = JSON.readTree(event2);
            for (JsonNode choice : chunk.get("choices")) {
                int index = choice.get("index").asInt();
                byIndex[index] = byIndex[index] == null ? new StringBuilder() : byIndex[index];
                byIndex[index].append(choice.path("text").asText(""));
                if (!choice.path("finish_reason").isNull()) {
                    finished[index] = choice.get("finish_reason").asText();
                }
            }
            last = chunk;
        }
        assertThat(java.util.Arrays.stream(byIndex).map(String::valueOf).toList())
                .isEqualTo(alone);
        assertThat(finished).doesNotContainNull();
        assertThat(last.get("choices")).isEmpty();
        assertThat(last.at("/usage/prompt_tokens").asInt()).isEqualTo(promptTokens);
        assertThat(last.at("/usage/completion_tokens").asInt()).isEqualTo(completionTokens);
        assertThat(usage.await(streamed.header("x-request-id")).n()).isEqualTo(4);
    }

    @Test
    void legacyCompletionsWithoutMaxTokensStopAtOpenAisDefaultOf16() {
        // <|im_end|> (261) banned, so only the output limit can end the text.
        Map<String, Object> body = Map.of("model", MODEL, "prompt", "Once", "logit_bias", Map.of("261", -100));
        post("/v1/completions", body)
                .then()
                .statusCode(200)
                .body("choices[0].finish_reason", equalTo("length"))
                .body("usage.completion_tokens", equalTo(16));
    }

    @Test
    void embeddingsAsFloatsAndAsBase64AgreeAndAreBilled() {
        Map<String, Object> floats = Map.of("model", "flatfare-tiny-embed", "input", List.of("hello", "world"));
        Response a = post("/v1/embeddings", floats);
        a.then()
                .statusCode(200)
                .body("object", equalTo("list"))
                .body("data.index", equalTo(List.of(0, 1)))
                .body("data[0].object", equalTo("embedding"))
                .body("model", equalTo("flatfare-tiny-embed"))
                .body("usage.prompt_tokens", org.hamcrest.Matchers.greaterThan(0));
        List<Float> values = a.path("data[0].embedding");
        String encoded = post(
                        "/v1/embeddings",
                        Map.of("model", "flatfare-tiny-embed", "input", "hello", "encoding_format", "base64"))
                .then()
                .statusCode(200)
                .extract()
                .path("data[0].embedding");
        ByteBuffer bytes = ByteBuffer.wrap(Base64.getDecoder().decode(encoded)).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(bytes.remaining()).isEqualTo(values.size() * 4);
        for (Float v : values) {
            assertThat(bytes.getFloat()).isCloseTo(v, org.assertj.core.data.Offset.offset(1e-6f));
        }
        UsageEvent event = usage.await(a.header("x-request-id"));
        assertThat(event.endpoint()).isEqualTo(Endpoint.EMBEDDINGS);
        assertThat(event.billable()).isTrue();
        assertThat(event.completionTokens()).isZero();
    }

    @Test
    void modelsListsOnlyWhatThePlanAllows() {
        given().header("Authorization", tenant.bearer())
                .get("/v1/models")
                .then()
                .statusCode(200)
                .body("object", equalTo("list"))
                .body("data.id", hasItem(MODEL))
                .body("data.id", hasItem("flatfare-tiny-embed"))
                .body("data[0].object", equalTo("model"));
        var narrow = tenants.create(Set.of(MODEL), null, null, null, null);
        given().header("Authorization", narrow.bearer())
                .get("/v1/models")
                .then()
                .statusCode(200)
                .body("data.id", equalTo(List.of(MODEL)));
        given().header("Authorization", narrow.bearer())
                .get("/v1/models/tiny")
                .then()
                .statusCode(200)
                .body("id", equalTo(MODEL))
                .body("owned_by", notNullValue())
                .body("ready_instances", org.hamcrest.Matchers.greaterThanOrEqualTo(1));
        given().header("Authorization", narrow.bearer())
                .get("/v1/models/flatfare-tiny-embed")
                .then()
                .statusCode(404)
                .body("error.code", equalTo("model_not_found"));
        given().header("Authorization", narrow.bearer())
                .contentType(ContentType.JSON)
                .body(Map.of("model", "flatfare-tiny-embed", "input", "x"))
                .post("/v1/embeddings")
                .then()
                .statusCode(403)
                .body("error.code", equalTo("model_not_allowed"))
                .body("error.param", equalTo("model"));
    }

    @Test
    void aModelIsFoundByAnAliasWithASlashWrittenPlainOrPercentEncoded() {
        for (String path : List.of("/v1/models/flatfare/tiny-long", "/v1/models/flatfare%2Ftiny-long")) {
            given().urlEncodingEnabled(false)
                    .header("Authorization", tenant.bearer())
                    .get(path)
                    .then()
                    .statusCode(200)
                    .body("id", equalTo(InferencePlatformResource.LONG_MODEL))
                    .body("object", equalTo("model"));
        }
        given().urlEncodingEnabled(false)
                .header("Authorization", tenant.bearer())
                .get("/v1/models/flatfare/nothing")
                .then()
                .statusCode(404)
                .body("error.code", equalTo("model_not_found"))
                .body("error.param", equalTo("model"));
    }

    @Test
    void aClientRequestIdIsEchoedOnlyWhenWellFormedAndNeverBecomesTheEventId() {
        Response echoed = given().header("Authorization", tenant.bearer())
                .header("x-request-id", "client-123")
                .contentType(ContentType.JSON)
                .body(chat())
                .post("/v1/chat/completions");
        echoed.then().statusCode(200).header("x-request-id", equalTo("client-123"));
        assertThat(usage.records("client-123")).isEmpty();
        given().header("Authorization", tenant.bearer())
                .header("x-request-id", "bad id with spaces")
                .contentType(ContentType.JSON)
                .body(chat())
                .post("/v1/chat/completions")
                .then()
                .header("x-request-id", startsWith("req_"));
    }

    @Test
    void browsersOfAnAllowedOriginGetCorsHeadersOnAnswersAndErrorsAndOthersAreRefused() {
        String origin = "https://app.flatfare.test"; // allowed by the test profile's quarkus.http.cors.origins
        given().header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "authorization,content-type,x-stainless-os")
                .options("/v1/chat/completions")
                .then()
                .statusCode(200)
                .header("Access-Control-Allow-Origin", origin)
                .header("Access-Control-Allow-Methods", org.hamcrest.Matchers.containsString("POST"))
                .header("Access-Control-Allow-Headers", org.hamcrest.Matchers.containsString("x-stainless-os"));
        Response answer = given().header("Origin", origin)
                .header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(chat("max_tokens", 1))
                .post("/v1/chat/completions");
        answer.then()
                .statusCode(200)
                .header("Access-Control-Allow-Origin", origin)
                .header("Access-Control-Allow-Credentials", org.hamcrest.Matchers.not("true"));
        assertThat(answer.header("Access-Control-Expose-Headers"))
                .contains("x-request-id", "x-ratelimit-remaining-requests", "retry-after", "x-should-retry");
        // An SDK in a browser can read the envelope of a refusal only with the header on it too.
        given().header("Origin", origin)
                .header("Authorization", "Bearer sk-ff-unknown")
                .get("/v1/models")
                .then()
                .statusCode(401)
                .header("Access-Control-Allow-Origin", origin)
                .body("error.code", equalTo("invalid_api_key"));
        given().header("Origin", origin)
                .header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body("{\"model\":\"" + MODEL + "\",\"messages\":[{\"role\":\"user\",\"content\":\""
                        + "x".repeat(9 * 1024 * 1024) + "\"}]}")
                .post("/v1/chat/completions")
                .then()
                .statusCode(413)
                .header("Access-Control-Allow-Origin", origin)
                .body("error.code", equalTo("request_too_large"));
        given().header("Origin", "https://elsewhere.example")
                .header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(chat("max_tokens", 1))
                .post("/v1/chat/completions")
                .then()
                .statusCode(403)
                .header("Access-Control-Allow-Origin", org.hamcrest.Matchers.nullValue());
    }

    @Test
    void rateLimitHeadersCountDown() {
        var limited = tenants.create(Set.of(Plan.ALL_MODELS), 5, null, null, null);
        List<Integer> remaining = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            Response r = given().header("Authorization", limited.bearer())
                    .contentType(ContentType.JSON)
                    .body(chat("max_tokens", 1))
                    .post("/v1/chat/completions");
            r.then().statusCode(200).header("x-ratelimit-limit-requests", equalTo("5"));
            assertThat(r.header("x-ratelimit-reset-requests")).matches("\\d+(ms|s)|\\d+m\\d+s");
            remaining.add(Integer.parseInt(r.header("x-ratelimit-remaining-requests")));
        }
        assertThat(remaining).containsExactly(4, 3);
    }

    @Test
    void unknownFieldsAreIgnored() {
        post("/v1/chat/completions", chat("store", false, "metadata", Map.of("a", "b"), "some_future_field", 1))
                .then()
                .statusCode(200);
    }

    @Test
    void planOutputCapBoundsMaxTokensAndTheDefault() {
        var capped = tenants.create(Set.of(Plan.ALL_MODELS), null, null, null, 4);
        given().header("Authorization", capped.bearer())
                .contentType(ContentType.JSON)
                .body(chat("max_tokens", 5))
                .post("/v1/chat/completions")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("max_tokens"));
        var body = chat();
        body.remove("max_tokens");
        body.put("logit_bias", Map.of("261", -100));
        given().header("Authorization", capped.bearer())
                .contentType(ContentType.JSON)
                .body(body)
                .post("/v1/chat/completions")
                .then()
                .statusCode(200)
                .body("usage.completion_tokens", equalTo(4))
                .body("choices[0].finish_reason", equalTo("length"));
    }

    @Test
    void jsonObjectResponseFormatGivesJson() throws Exception {
        // The grammar makes every finished answer valid JSON; a random-weights model may need a few seeds to finish.
        int finished = 0;
        for (int seed = 1; seed <= 6 && finished < 2; seed++) {
            Response r = post(
                    "/v1/chat/completions",
                    chat("max_tokens", 512, "seed", seed, "response_format", Map.of("type", "json_object")));
            r.then().statusCode(200);
            if ("stop".equals(r.path("choices[0].finish_reason"))) {
                finished++;
                String content = r.path("choices[0].message.content");
                assertThat(JSON.readTree(content).isObject()).as(content).isTrue();
            }
        }
        assertThat(finished).isPositive();
    }

    /** A stream that runs for seconds: the end-of-generation token banned, 8,000 tokens asked for. */
    private static String longStreamBody() throws Exception {
        return JSON.writeValueAsString(chat(
                "model",
                InferencePlatformResource.LONG_MODEL,
                "stream",
                true,
                "max_tokens",
                8000,
                "logit_bias",
                Map.of("261", -100)));
    }

    @Test
    void aClientThatDisconnectsCancelsTheUpstreamCall() throws Exception {
        var body = longStreamBody();
        String requestId;
        try (var socket = new java.net.Socket("127.0.0.1", io.restassured.RestAssured.port)) {
            socket.setSoTimeout(30_000);
            var out = socket.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: " + tenant.bearer()
                            + "\r\nContent-Type: application/json\r\nContent-Length: "
                            + body.getBytes(java.nio.charset.StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            out.flush();
            var in = new java.io.BufferedReader(
                    new java.io.InputStreamReader(socket.getInputStream(), java.nio.charset.StandardCharsets.UTF_8));
            String line;
            String id = null;
            String status = in.readLine();
            assertThat(status).startsWith("HTTP/1.1 200");
            while ((line = in.readLine()) != null && !line.startsWith("data: ")) {
                if (line.toLowerCase(java.util.Locale.ROOT).startsWith("x-request-id:")) {
                    id = line.substring(line.indexOf(':') + 1).strip();
                }
            }
            assertThat(line).as("a first chunk arrived").isNotNull();
            requestId = id;
        }
        long closed = System.nanoTime();
        var channel = io.grpc.ManagedChannelBuilder.forAddress(
                        "127.0.0.1", InferencePlatformResource.inference().port())
                .usePlaintext()
                .build();
        try {
            var info = io.flatfare.contracts.inference.v1.InferenceServiceGrpc.newBlockingStub(channel);
            org.awaitility.Awaitility.await()
                    .atMost(java.time.Duration.ofSeconds(30))
                    .until(
                            () -> info
                                    .info(io.flatfare.contracts.inference.v1.InfoRequest.getDefaultInstance())
                                    .getModelsList()
                                    .stream()
                                    .filter(m -> m.getModel().equals(InferencePlatformResource.LONG_MODEL))
                                    .allMatch(m -> m.getSlotsBusy() == 0));
        } finally {
            channel.shutdownNow();
        }
        long freedMs = (System.nanoTime() - closed) / 1_000_000;
        UsageEvent event = usage.await(requestId);
        assertThat(event.outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
        assertThat(event.billable())
                .as("output was produced before the client left")
                .isTrue();
        assertThat(event.httpStatus()).isEqualTo(200);
        // 8,000 tokens take several seconds on this model; a slot freed well before that was cancelled.
        assertThat(freedMs).isLessThan(2_000);
    }

    /**
     * Clients that leave a stream early, by a close or a reset, after its head or its first frame: writing the next
     * frame can fail before the server has seen the connection close, and the HTTP server must release the exchange
     * either way, or a graceful shutdown waits its whole timeout for it. Each way four times, since which of the two
     * comes first is a race (before the fix, a reset after the first frame left one of two exchanges held).
     */
    @Test
    void streamsLeftEarlyAreAllReleasedByTheHttpServer() throws Exception {
        var body = longStreamBody();
        byte[] request = ("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: "
                        + tenant.bearer()
                        + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
                        + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
                .getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < 16; i++) {
            boolean reset = i % 2 == 0;
            boolean afterTheFirstFrame = i % 4 < 2;
            try (var socket = new Socket("127.0.0.1", io.restassured.RestAssured.port)) {
                socket.setSoTimeout(30_000);
                if (reset) {
                    socket.setSoLinger(true, 0); // close() sends a reset instead of a FIN
                }
                socket.getOutputStream().write(request);
                var in = socket.getInputStream();
                StringBuilder head = new StringBuilder();
                int b;
                while (!head.toString().endsWith("\r\n\r\n") && (b = in.read()) >= 0) {
                    head.append((char) b);
                }
                assertThat(head.toString()).startsWith("HTTP/1.1 200");
                if (afterTheFirstFrame) {
                    assertThat(in.read(new byte[512])).as("a first frame").isPositive();
                }
            }
        }
        Awaitility.await()
                .atMost(Duration.ofSeconds(15))
                .untilAsserted(() -> assertThat(meters.get("flatfare.gateway.http.exchanges.open")
                                .gauge()
                                .value())
                        .as("exchanges the HTTP server holds")
                        .isZero());
    }
}
