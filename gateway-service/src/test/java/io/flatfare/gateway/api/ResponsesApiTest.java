package io.flatfare.gateway.api;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.contracts.events.Endpoint;
import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.gateway.account.Plan;
import io.flatfare.gateway.responses.ResponseStore;
import io.flatfare.gateway.responses.StoredResponse;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.flatfare.testing.support.LogCapture;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import java.io.InputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import javax.sql.DataSource;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * {@code /v1/responses} over a real inference process: the response object, its typed event stream, input items,
 * the features it refuses, and one usage event per request.
 */
@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ResponsesApiTest {

    static final String MODEL = "flatfare-tiny";
    static final ObjectMapper JSON = new ObjectMapper();

    /** The events of a Responses stream, each checked to be an {@code event:} line naming its type and a {@code data:} line. */
    static List<JsonNode> typedEvents(String body) throws JsonProcessingException {
        List<JsonNode> events = new ArrayList<>();
        for (String frame : body.split("\n\n")) {
            String[] lines = frame.split("\n");
            assertThat(lines).hasSize(2);
            assertThat(lines[0]).startsWith("event: ");
            assertThat(lines[1]).startsWith("data: ");
            JsonNode event = JSON.readTree(lines[1].substring("data: ".length()));
            assertThat(event.get("type").asText()).isEqualTo(lines[0].substring("event: ".length()));
            events.add(event);
        }
        return events;
    }

    @Inject
    Tenants tenants;

    @Inject
    MeterRegistry meters;

    @TestHTTPResource("/")
    URI root;

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

    Response post(Object body) {
        return given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(body)
                .post("/v1/responses");
    }

    static Map<String, Object> request(Object... extra) {
        var body = new LinkedHashMap<String, Object>();
        body.put("model", MODEL);
        body.put("input", "Hello there");
        body.put("max_output_tokens", 8);
        for (int i = 0; i < extra.length; i += 2) {
            body.put((String) extra[i], extra[i + 1]);
        }
        return body;
    }

    /** The envelope with all four keys, as every {@code /v1} error (see {@link OpenAiErrorsTest#envelope}). */
    static void refused(Response r, int status, String param, String code) {
        OpenAiErrorsTest.envelope(r, status, "invalid_request_error", param, code);
    }

    /** The text of the response's one message. */
    static String outputText(JsonNode response) {
        JsonNode message = response.get("output").get(0);
        assertThat(message.get("type").asText()).isEqualTo("message");
        assertThat(message.get("role").asText()).isEqualTo("assistant");
        JsonNode part = message.get("content").get(0);
        assertThat(part.get("type").asText()).isEqualTo("output_text");
        return part.get("text").asText();
    }

    @Test
    void aResponseHasOpenAisShapeAndOneUsageEvent() throws Exception {
        Response response = post(request(
                "model", "tiny", "instructions", "Be terse.", "metadata", Map.of("ticket", "T-1"), "store", true));
        response.then()
                .statusCode(200)
                .contentType(ContentType.JSON)
                .header("x-request-id", startsWith("req_"))
                .header("x-flatfare-price-tier", equalTo("small"));
        JsonNode r = JSON.readTree(response.asString());
        assertThat(r.get("id").asText()).startsWith("resp_");
        assertThat(r.get("object").asText()).isEqualTo("response");
        assertThat(r.get("created_at").asLong()).isPositive();
        assertThat(r.get("model").asText()).isEqualTo(MODEL);
        assertThat(r.get("status").asText()).isIn("completed", "incomplete");
        assertThat(r.get("error").isNull()).isTrue();
        assertThat(r.get("instructions").asText()).isEqualTo("Be terse.");
        assertThat(r.get("max_output_tokens").asInt()).isEqualTo(8);
        assertThat(r.get("metadata").get("ticket").asText()).isEqualTo("T-1");
        assertThat(r.get("store").asBoolean()).isTrue();
        assertThat(r.get("previous_response_id").isNull()).isTrue();
        assertThat(r.get("tools")).isEmpty();
        assertThat(r.at("/text/format/type").asText()).isEqualTo("text");
        assertThat(r.get("output")).hasSize(1);
        assertThat(r.at("/output/0/id").asText()).startsWith("msg_");
        assertThat(r.at("/output/0/status").asText()).isEqualTo(r.get("status").asText());
        outputText(r);
        JsonNode u = r.get("usage");
        assertThat(u.get("input_tokens").asInt()).isPositive();
        assertThat(u.get("output_tokens").asInt()).isBetween(1, 8);
        assertThat(u.get("total_tokens").asInt())
                .isEqualTo(
                        u.get("input_tokens").asInt() + u.get("output_tokens").asInt());
        if (r.get("status").asText().equals("incomplete")) {
            assertThat(r.at("/incomplete_details/reason").asText()).isEqualTo("max_output_tokens");
            assertThat(u.get("output_tokens").asInt()).isEqualTo(8);
        } else {
            assertThat(r.get("incomplete_details").isNull()).isTrue();
        }

        UsageEvent event = usage.await(response.header("x-request-id"));
        assertThat(event.endpoint()).isEqualTo(Endpoint.RESPONSES);
        assertThat(event.accountId()).isEqualTo(tenant.account());
        assertThat(event.model()).isEqualTo(MODEL);
        assertThat(event.modelAlias()).isEqualTo("tiny");
        assertThat(event.stream()).isFalse();
        assertThat(event.outcome()).isEqualTo(Outcome.COMPLETED);
        assertThat(event.billable()).isTrue();
        assertThat(event.promptTokens()).isEqualTo(u.get("input_tokens").asInt());
        assertThat(event.completionTokens()).isEqualTo(u.get("output_tokens").asInt());
    }

    @Test
    void instructionsAndEveryInputMessageReachTheModel() {
        int alone = post(request()).then().statusCode(200).extract().path("usage.input_tokens");
        int instructed = post(request("instructions", "Answer in one word."))
                .then()
                .statusCode(200)
                .extract()
                .path("usage.input_tokens");
        assertThat(instructed).isGreaterThan(alone);

        var conversation = List.of(
                Map.of("role", "developer", "content", "Be kind."),
                Map.of(
                        "type",
                        "message",
                        "role",
                        "user",
                        "content",
                        List.of(Map.of("type", "input_text", "text", "Hi"))),
                Map.of("role", "assistant", "content", List.of(Map.of("type", "output_text", "text", "Hello!"))),
                Map.of("role", "user", "content", "Hello there"));
        int whole = post(request("input", conversation))
                .then()
                .statusCode(200)
                .extract()
                .path("usage.input_tokens");
        assertThat(whole).isGreaterThan(alone);
    }

    @Test
    void aStreamIsTypedEventsThatAddUpToTheFinalResponse() throws Exception {
        Response response = post(request("stream", true));
        response.then().statusCode(200).header("content-type", startsWith("text/event-stream"));
        String body = response.asString();
        assertThat(body).doesNotContain("[DONE]");
        List<JsonNode> events = typedEvents(body);
        for (int i = 0; i < events.size(); i++) {
            assertThat(events.get(i).get("sequence_number").asInt()).isEqualTo(i);
        }
        assertThat(events)
                .extracting(e -> e.get("type").asText())
                .startsWith(
                        "response.created",
                        "response.in_progress",
                        "response.output_item.added",
                        "response.content_part.added");
        JsonNode created = events.getFirst().get("response");
        assertThat(created.get("status").asText()).isEqualTo("in_progress");
        assertThat(created.get("output")).isEmpty();

        StringBuilder deltas = new StringBuilder();
        events.stream()
                .filter(e -> e.get("type").asText().equals("response.output_text.delta"))
                .forEach(e -> {
                    assertThat(e.get("output_index").asInt()).isZero();
                    assertThat(e.get("content_index").asInt()).isZero();
                    assertThat(e.get("item_id").asText()).startsWith("msg_");
                    deltas.append(e.get("delta").asText());
                });
        List<JsonNode> last = events.subList(events.size() - 4, events.size());
        assertThat(last)
                .extracting(e -> e.get("type").asText())
                .startsWith("response.output_text.done", "response.content_part.done", "response.output_item.done");
        assertThat(last.get(0).get("text").asText()).isEqualTo(deltas.toString());
        JsonNode done = last.get(3);
        assertThat(done.get("type").asText()).isIn("response.completed", "response.incomplete");
        JsonNode r = done.get("response");
        assertThat(r.get("id").asText()).isEqualTo(created.get("id").asText());
        assertThat(outputText(r)).isEqualTo(deltas.toString());
        assertThat(done.get("type").asText())
                .isEqualTo("response." + r.get("status").asText());

        UsageEvent event = usage.await(response.header("x-request-id"));
        assertThat(event.endpoint()).isEqualTo(Endpoint.RESPONSES);
        assertThat(event.stream()).isTrue();
        assertThat(event.outcome()).isEqualTo(Outcome.COMPLETED);
        assertThat(event.completionTokens())
                .isEqualTo(r.at("/usage/output_tokens").asInt());
    }

    @Test
    void aJsonSchemaFormatGivesJsonOfThatSchema() throws Exception {
        var format = Map.of(
                "type",
                "json_schema",
                "name",
                "greeting",
                "strict",
                true,
                "schema",
                Map.of(
                        "type",
                        "object",
                        "properties",
                        Map.of("word", Map.of("type", "string", "maxLength", 8)),
                        "required",
                        List.of("word"),
                        "additionalProperties",
                        false));
        int completed = 0;
        for (int attempt = 0; attempt < 8 && completed == 0; attempt++) {
            Response response = post(request("max_output_tokens", 256, "text", Map.of("format", format)));
            response.then().statusCode(200);
            JsonNode r = JSON.readTree(response.asString());
            assertThat(r.at("/text/format/name").asText()).isEqualTo("greeting");
            if (r.get("status").asText().equals("completed")) {
                completed++;
                JsonNode answer = JSON.readTree(outputText(r));
                assertThat(answer.has("word")).as(answer.toString()).isTrue();
                assertThat(answer.size()).isEqualTo(1);
            }
        }
        assertThat(completed).isPositive();

        refused(
                post(request(
                        "text", Map.of("format", Map.of("type", "json_schema", "schema", Map.of("type", "object"))))),
                400,
                "text.format.name",
                "invalid_value");
        refused(
                post(request("text", Map.of("format", Map.of("type", "json_schema", "name", "x", "schema", "object")))),
                400,
                "text.format.schema",
                "invalid_value");
        refused(
                post(request("text", Map.of("format", Map.of("type", "yaml")))),
                400,
                "text.format.type",
                "invalid_value");
    }

    @Test
    void badInputIs400NamingTheItem() {
        refused(post(request("input", List.of())), 400, "input", "empty_array");
        refused(post(request("input", 42)), 400, "input", "invalid_value");
        refused(
                post(request("input", List.of(Map.of("role", "tool", "content", "x")))),
                400,
                "input[0].role",
                "invalid_value");
        refused(
                post(request(
                        "input",
                        List.of(
                                Map.of("role", "user", "content", "x"),
                                Map.of("type", "function_call_output", "call_id", "c", "output", "{}")))),
                400,
                "input[1].type",
                "unsupported_parameter");
        refused(
                post(request(
                        "input",
                        List.of(Map.of(
                                "role",
                                "user",
                                "content",
                                List.of(Map.of("type", "input_image", "image_url", "https://x/y.png")))))),
                400,
                "input[0].content[0].type",
                "unsupported_parameter");
        var noInput = request();
        noInput.remove("input");
        refused(post(noInput), 400, "input", "missing_required_parameter");
        refused(
                post(request("input", List.of(Map.of("content", "hi")))),
                400,
                "input[0].role",
                "missing_required_parameter");
        refused(
                post(request("input", List.of(Map.of("role", "user")))),
                400,
                "input[0].content",
                "missing_required_parameter");
        refused(post(request("max_output_tokens", 0)), 400, "max_output_tokens", "invalid_value");
        refused(post(request("temperature", 3)), 400, "temperature", "invalid_value");
    }

    /**
     * {@code metadata} as OpenAI takes it: string pairs, at most 16, keys up to 64 and values up to 512 characters.
     * Anything else was answered 200 and stored, with the metadata echoed as sent ({@code "x"}, {@code [1]}).
     */
    @Test
    void metadataIsAtMostSixteenStringPairs() throws Exception {
        refused(post(request("metadata", "x")), 400, "metadata", "invalid_type");
        refused(post(request("metadata", List.of(1))), 400, "metadata", "invalid_type");
        refused(post(request("metadata", Map.of("a", 1))), 400, "metadata.a", "invalid_type");
        Map<String, String> seventeen = new java.util.LinkedHashMap<>();
        for (int i = 0; i < 17; i++) {
            seventeen.put("k" + i, "v");
        }
        refused(post(request("metadata", seventeen)), 400, "metadata", "invalid_value");
        refused(post(request("metadata", Map.of("k", "v".repeat(513)))), 400, "metadata[k]", "invalid_value");
        refused(
                post(request("metadata", Map.of("k".repeat(65), "v"))),
                400,
                "metadata[" + "k".repeat(65) + "]",
                "invalid_value");

        seventeen.remove("k15");
        seventeen.remove("k16");
        seventeen.put("k".repeat(64), "v".repeat(512));
        Response sixteen = post(request("metadata", seventeen));
        assertThat(sixteen.statusCode()).as(sixteen.asString()).isEqualTo(200);
        JsonNode r = JSON.readTree(sixteen.asString());
        assertThat(r.get("metadata").size()).isEqualTo(16);
        assertThat(r.get("metadata").get("k0").asText()).isEqualTo("v");
        assertThat(r.get("metadata").get("k".repeat(64)).asText()).hasSize(512);
        assertThat(ok(post(request())).get("metadata").isObject()).isTrue();
    }

    @Test
    void whatNeedsToolsOrMoreServerStateIsRefusedNeverIgnored() {
        refused(
                post(request("tools", List.of(Map.of("type", "function", "name", "f")))),
                400,
                "tools",
                "unsupported_parameter");
        refused(post(request("tool_choice", "required")), 400, "tool_choice", "unsupported_parameter");
        refused(post(request("conversation", "conv_1")), 400, "conversation", "unsupported_parameter");
        refused(post(request("background", true)), 400, "background", "unsupported_parameter");
        refused(
                post(request("include", List.of("message.output_text.logprobs"))),
                400,
                "include",
                "unsupported_parameter");
        refused(post(request("truncation", "auto")), 400, "truncation", "unsupported_parameter");
        refused(post(request("top_logprobs", 2)), 400, "top_logprobs", "unsupported_parameter");
        // What asks for nothing unsupported is fine.
        post(request("tools", List.of(), "tool_choice", "auto", "truncation", "disabled", "reasoning", Map.of()))
                .then()
                .statusCode(200);
    }

    @Test
    void aPlansOutputLimitBoundsMaxOutputTokens() {
        var capped = tenants.create(Set.of(Plan.ALL_MODELS), null, null, null, 4);
        given().header("Authorization", capped.bearer())
                .contentType(ContentType.JSON)
                .body(request("max_output_tokens", 5))
                .post("/v1/responses")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("max_output_tokens"));
        var unset = request();
        unset.remove("max_output_tokens");
        int out = given().header("Authorization", capped.bearer())
                .contentType(ContentType.JSON)
                .body(unset)
                .post("/v1/responses")
                .then()
                .statusCode(200)
                .extract()
                .path("usage.output_tokens");
        assertThat(out).isBetween(1, 4);
    }

    static JsonNode ok(Response r) throws Exception {
        r.then().statusCode(200);
        return JSON.readTree(r.asString());
    }

    Response get(Tenants.Tenant who, String path) {
        return given().header("Authorization", who.bearer()).get(path);
    }

    @Test
    void aStoredResponseIsRetrievedAsAnsweredAndOnlyByItsAccount() throws Exception {
        Response answered = post(request("metadata", Map.of("ticket", "T-2")));
        answered.then().statusCode(200);
        JsonNode r = JSON.readTree(answered.asString());
        assertThat(r.get("store").asBoolean()).isTrue();
        String id = r.get("id").asText();

        Response again = get(tenant, "/v1/responses/" + id);
        again.then().statusCode(200).contentType(ContentType.JSON);
        assertThat(JSON.readTree(again.asString())).isEqualTo(r);

        given().get("/v1/responses/" + id).then().statusCode(401);
        var stranger = tenants.generous();
        refused(get(stranger, "/v1/responses/" + id), 404, "id", "not_found");
        refused(get(stranger, "/v1/responses/" + id + "/input_items"), 404, "id", "not_found");
        refused(
                given().header("Authorization", stranger.bearer()).delete("/v1/responses/" + id),
                404,
                "id",
                "not_found");
        refused(get(tenant, "/v1/responses/resp_abc"), 404, "id", "not_found");

        // "store": false keeps nothing, and the answer says so.
        JsonNode unstored = JSON.readTree(post(request("store", false)).asString());
        assertThat(unstored.get("store").asBoolean()).isFalse();
        refused(get(tenant, "/v1/responses/" + unstored.get("id").asText()), 404, "id", "not_found");
    }

    /** Cancelling and stream-retrieving are for background responses; asked of a stored one, refused, not ignored. */
    @Test
    void whatOnlyBackgroundResponsesHaveIsRefusedForAStoredOne() throws Exception {
        String id = ok(post(request())).get("id").asText();
        Response cancel = given().header("Authorization", tenant.bearer()).post("/v1/responses/" + id + "/cancel");
        refused(cancel, 400, null, null);
        assertThat(cancel.<String>path("error.message")).contains("background=true");
        refused(
                given().header("Authorization", tenant.bearer()).post("/v1/responses/resp_abc/cancel"),
                404,
                "id",
                "not_found");
        refused(
                given().header("Authorization", tenants.generous().bearer()).post("/v1/responses/" + id + "/cancel"),
                404,
                "id",
                "not_found");
        given().post("/v1/responses/" + id + "/cancel").then().statusCode(401);

        refused(get(tenant, "/v1/responses/" + id + "?stream=true"), 400, "stream", "unsupported_parameter");
        refused(
                get(tenant, "/v1/responses/" + id + "?include[]=message.output_text.logprobs"),
                400,
                "include",
                "unsupported_parameter");
        refused(get(tenant, "/v1/responses/resp_abc?stream=true"), 404, "id", "not_found");
        assertThat(ok(get(tenant, "/v1/responses/" + id + "?stream=false"))
                        .get("id")
                        .asText())
                .isEqualTo(id);
    }

    @Test
    void previousResponseIdContinuesTheConversation() throws Exception {
        // U+0000 too, which PostgreSQL's jsonb would refuse to store.
        String first = "My name is Ada\0 and I keep a lighthouse.";
        JsonNode one = ok(post(request("input", first, "instructions", "Be brief.")));
        assertThat(one.get("store").asBoolean()).isTrue();
        String question = "What is my name?";
        JsonNode two = ok(post(request("input", question, "previous_response_id", one.get("id"))));
        assertThat(two.get("previous_response_id").asText())
                .isEqualTo(one.get("id").asText());
        int alone = post(request("input", question, "store", false))
                .then()
                .statusCode(200)
                .extract()
                .path("usage.input_tokens");
        // The first turn's input and output reach the model (a byte-level tokenizer: a token per byte at least).
        int chained = two.at("/usage/input_tokens").asInt();
        assertThat(chained)
                .isGreaterThan(
                        alone + first.length() + one.at("/usage/output_tokens").asInt() / 4);

        // Three turns: the third sees both earlier ones.
        JsonNode three = ok(post(request("input", question, "previous_response_id", two.get("id"))));
        assertThat(three.at("/usage/input_tokens").asInt()).isGreaterThan(chained);

        // Another account cannot continue it; an unknown id is not found either. Both are rejected usage.
        var stranger = tenants.generous();
        Response foreign = given().header("Authorization", stranger.bearer())
                .contentType(ContentType.JSON)
                .body(request("previous_response_id", one.get("id").asText()))
                .post("/v1/responses");
        refused(foreign, 404, "previous_response_id", "previous_response_not_found");
        assertThat(usage.await(foreign.header("x-request-id")).billable()).isFalse();
        refused(
                post(request("previous_response_id", "resp_unknown")),
                404,
                "previous_response_id",
                "previous_response_not_found");
        // PostgreSQL cannot compare a NUL: this was a 503 storage_unavailable, which the SDKs retry.
        refused(
                post(request("previous_response_id", one.get("id").asText() + "\u0000")),
                404,
                "previous_response_id",
                "previous_response_not_found");
    }

    @Test
    void streamsTheirClientsLeaveAsTheyEndAreNotWrittenToAClosedConnection() throws Exception {
        // A stored response's last events follow its storing, on a worker thread. Clients that reset their connection
        // around then, while the gateway stored: before, a frame was written to the closed connection before the HTTP
        // layer heard of the close, and the writes its failure led to released the frame's chunk twice in Netty's
        // encoder (a warning with an IllegalReferenceCountException for a few in a hundred such clients).
        LogCapture netty = LogCapture.of("io.netty", Level.WARNING);
        byte[] content = JSON.writeValueAsBytes(request("stream", true, "store", true, "input", "Tell me a story."));
        byte[] head = ("POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nAuthorization: " + tenant.bearer()
                        + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + content.length
                        + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        ExecutorService clients = Executors.newFixedThreadPool(4);
        try {
            List<Future<Integer>> statuses = new ArrayList<>();
            for (int i = 0; i < 160; i++) {
                int reads = i % 4; // leave after the head, or after one to three reads of the stream
                statuses.add(clients.submit(() -> {
                    try (Socket socket = new Socket(root.getHost(), root.getPort())) {
                        socket.setSoTimeout(30_000);
                        socket.setSoLinger(true, 0); // close() sends a reset
                        socket.getOutputStream().write(head);
                        socket.getOutputStream().write(content);
                        InputStream in = socket.getInputStream();
                        byte[] buffer = new byte[8192];
                        int n = in.read(buffer);
                        int status = Integer.parseInt(new String(buffer, 9, 3, StandardCharsets.US_ASCII));
                        for (int r = 0; r < reads && n >= 0; r++) {
                            n = in.read(buffer);
                        }
                        return status;
                    }
                }));
            }
            // Streams left a moment ago may still hold the model's slots and queue: 429 for some.
            int streamed = 0;
            for (Future<Integer> status : statuses) {
                int code = status.get(2, TimeUnit.MINUTES);
                assertThat(code).isIn(200, 429);
                streamed += code == 200 ? 1 : 0;
            }
            assertThat(streamed).isGreaterThan(statuses.size() / 2);
            // Every exchange released (the answer's end handlers ran) before the warnings are counted.
            await().atMost(Duration.ofSeconds(30))
                    .untilAsserted(() -> assertThat(meters.get("flatfare.gateway.http.exchanges.open")
                                    .gauge()
                                    .value())
                            .isZero());
        } finally {
            clients.shutdownNow();
            netty.close();
        }
        assertThat(netty.messages()).as("Netty warnings").isEmpty();
    }

    @Test
    void aStreamedResponseIsStoredBeforeItsLastEvent() throws Exception {
        String body =
                post(request("stream", true)).then().statusCode(200).extract().asString();
        JsonNode last = typedEvents(body).getLast();
        JsonNode r = last.get("response");
        assertThat(r.get("store").asBoolean()).isTrue();
        // Read the moment the stream ended: it is there already.
        JsonNode stored =
                JSON.readTree(get(tenant, "/v1/responses/" + r.get("id").asText())
                        .then()
                        .statusCode(200)
                        .extract()
                        .asString());
        assertThat(stored).isEqualTo(r);
    }

    @Test
    void inputItemsArePagedAndADeletedResponseIsGone() throws Exception {
        var conversation = List.of(
                Map.of("role", "developer", "content", "Be kind."),
                Map.of("role", "user", "content", List.of(Map.of("type", "input_text", "text", "Hi"))),
                Map.of("role", "assistant", "content", List.of(Map.of("type", "output_text", "text", "Hello!"))));
        String id = JSON.readTree(post(request("input", conversation)).asString())
                .get("id")
                .asText();
        String items = "/v1/responses/" + id + "/input_items";

        JsonNode all = JSON.readTree(
                get(tenant, items).then().statusCode(200).extract().asString());
        assertThat(all.get("object").asText()).isEqualTo("list");
        assertThat(all.get("has_more").asBoolean()).isFalse();
        // Newest first by default.
        assertThat(all.get("data"))
                .extracting(i -> i.get("role").asText())
                .containsExactly("assistant", "user", "system");
        assertThat(all.at("/data/0/content/0/type").asText()).isEqualTo("output_text");
        assertThat(all.at("/data/1/content/0/type").asText()).isEqualTo("input_text");
        assertThat(all.at("/data/1/content/0/text").asText()).isEqualTo("Hi");
        assertThat(all.get("first_id").asText()).isEqualTo(all.at("/data/0/id").asText());

        JsonNode page1 = JSON.readTree(get(tenant, items + "?order=asc&limit=2")
                .then()
                .statusCode(200)
                .extract()
                .asString());
        assertThat(page1.get("data")).extracting(i -> i.get("role").asText()).containsExactly("system", "user");
        assertThat(page1.get("has_more").asBoolean()).isTrue();
        JsonNode page2 = JSON.readTree(get(
                        tenant,
                        items + "?order=asc&limit=2&after="
                                + page1.get("last_id").asText())
                .then()
                .statusCode(200)
                .extract()
                .asString());
        assertThat(page2.get("data")).extracting(i -> i.get("role").asText()).containsExactly("assistant");
        assertThat(page2.get("has_more").asBoolean()).isFalse();
        refused(get(tenant, items + "?limit=0"), 400, "limit", "invalid_value");
        refused(get(tenant, items + "?order=sideways"), 400, "order", "invalid_value");

        given().header("Authorization", tenant.bearer())
                .delete("/v1/responses/" + id)
                .then()
                .statusCode(200)
                .body("id", equalTo(id))
                .body("object", equalTo("response"))
                .body("deleted", equalTo(true));
        refused(get(tenant, "/v1/responses/" + id), 404, "id", "not_found");
        refused(post(request("previous_response_id", id)), 404, "previous_response_id", "previous_response_not_found");
        refused(given().header("Authorization", tenant.bearer()).delete("/v1/responses/" + id), 404, "id", "not_found");
    }

    @Inject
    ResponseStore store;

    @Inject
    DataSource database;

    @Test
    void theStoresShorterTimeoutDoesNotStayWithThePoolsConnection() throws Exception {
        int poolTimeout;
        try (Connection c = database.getConnection()) {
            poolTimeout = c.getNetworkTimeout();
        }
        long storeTimeout = ConfigProvider.getConfig()
                .getValue("flatfare.gateway.responses.database-timeout", Duration.class)
                .toMillis();
        assertThat(poolTimeout).isNotEqualTo(storeTimeout); // else this test could not tell
        store.save(storedAt("resp_timeout", Instant.now()));
        // The pool hands a thread back the connection it returned last: the one the store just used.
        try (Connection c = database.getConnection()) {
            assertThat(c.getNetworkTimeout()).isEqualTo(poolTimeout);
        }
    }

    @Test
    void aResponsePastItsRetentionIsGoneAndPurged() {
        store.save(storedAt("resp_expired", Instant.now().minus(Duration.ofDays(31))));
        refused(get(tenant, "/v1/responses/resp_expired_" + tenant.keyId()), 404, "id", "not_found");
        refused(
                post(request("previous_response_id", "resp_expired_" + tenant.keyId())),
                404,
                "previous_response_id",
                "previous_response_not_found");
        assertThat(store.purgeExpired(Instant.now())).isEqualTo(1);
        assertThat(store.purgeExpired(Instant.now())).isZero();
    }

    /** A response of the tenant's, written straight to the store, created at {@code createdAt} and kept 30 days. */
    private StoredResponse storedAt(String id, Instant createdAt) {
        return new StoredResponse(
                id + "_" + tenant.keyId(),
                tenant.account(),
                createdAt,
                createdAt.plus(Duration.ofDays(30)),
                JSON.createObjectNode().put("id", id),
                JSON.createArrayNode(),
                List.of(new StoredResponse.Turn("user", "hi")));
    }
}
