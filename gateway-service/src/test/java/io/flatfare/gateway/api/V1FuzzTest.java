package io.flatfare.gateway.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.gateway.account.Plan;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.quarkus.redis.datasource.RedisDataSource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Mutated requests against every {@code /v1} endpoint, from one seed: whatever a client sends, the answer is a
 * well-formed success or the OpenAI error envelope with a 4xx, never a 5xx; and afterwards no slot is held, the
 * month's quota counted exactly the billable requests, each answered request has one usage event and no refused
 * one is billed. Reproduce a failure with {@code -Dfuzz.seed=<the seed it prints>}; {@code -Dfuzz.requests=N}
 * sends more.
 */
@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class V1FuzzTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The requests mutated: one per endpoint and mode. Small outputs, so that hundreds run in a minute. */
    private static final List<Base> BASES = List.of(
            new Base("/v1/chat/completions", """
                    {"model": "flatfare-tiny", "max_tokens": 2, "seed": 1, "temperature": 0.7, "user": "u-1",
                     "messages": [{"role": "system", "content": "Be brief."},
                                  {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}"""),
            new Base("/v1/chat/completions", """
                    {"model": "flatfare-tiny", "max_completion_tokens": 2, "stream": true, "n": 2,
                     "stream_options": {"include_usage": true}, "stop": ["\\n", "."],
                     "messages": [{"role": "user", "content": "Hi"}]}"""),
            new Base("/v1/chat/completions", """
                    {"model": "flatfare-tiny", "max_tokens": 2, "logit_bias": {"65": 5},
                     "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true,
                       "schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}},
                     "messages": [{"role": "user", "content": "Give a"}]}"""),
            new Base("/v1/completions", """
                    {"model": "flatfare-tiny", "prompt": ["Once"], "max_tokens": 2, "stop": "\\n",
                     "presence_penalty": 0.5, "frequency_penalty": 0.5}"""),
            new Base("/v1/completions", """
                    {"model": "flatfare-tiny", "prompt": "Once", "max_tokens": 2, "stream": true, "top_p": 0.9}"""),
            new Base("/v1/embeddings", """
                    {"model": "flatfare-tiny-embed", "input": ["hello", "world"], "encoding_format": "float"}"""),
            new Base("/v1/responses", """
                    {"model": "flatfare-tiny", "max_output_tokens": 2, "instructions": "Be brief.", "store": false,
                     "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}]}"""),
            new Base("/v1/responses", """
                    {"model": "flatfare-tiny", "max_output_tokens": 2, "stream": true, "input": "Hi",
                     "text": {"format": {"type": "json_object"}}}"""));

    /** Fields of the OpenAI requests (and some they must refuse), set to random values. */
    private static final List<String> FIELDS = List.of(
            "model",
            "messages",
            "prompt",
            "input",
            "instructions",
            "n",
            "max_tokens",
            "max_completion_tokens",
            "max_output_tokens",
            "temperature",
            "top_p",
            "seed",
            "stop",
            "presence_penalty",
            "frequency_penalty",
            "logit_bias",
            "response_format",
            "text",
            "stream",
            "stream_options",
            "user",
            "logprobs",
            "top_logprobs",
            "tools",
            "tool_choice",
            "parallel_tool_calls",
            "encoding_format",
            "dimensions",
            "echo",
            "suffix",
            "best_of",
            "previous_response_id",
            "store",
            "metadata",
            "audio",
            "modalities",
            "service_tier",
            "reasoning_effort",
            "truncation",
            "include");

    /** Arrays nested up to this deep more than the 500 of the shallowest: parsers stop at 1000. */
    private static final int MAX_DEPTH = 4000;

    @Inject
    Tenants tenants;

    @Inject
    RedisDataSource redis;

    @TestHTTPResource("/")
    URI root;

    Tenants.Tenant tenant;
    UsageTopic usage;
    HttpClient http;

    @BeforeAll
    void setUp() {
        // Limits in Redis for every kind (a concurrency limit so slots are tracked, a quota so the month counts),
        // none of them reachable by requests sent one after the other.
        tenant = tenants.create(Set.of(Plan.ALL_MODELS), 100_000, 64, 1_000_000L, null);
        usage = new UsageTopic();
        http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10))
                .build();
    }

    @AfterAll
    void tearDown() {
        usage.close();
        http.close();
    }

    record Base(String path, String body) {}

    /** What was sent and what came back, for the checks after the run and for failure messages. */
    record Exchange(int index, String path, String body, int status, String requestId, boolean stream) {
        String describe(long seed) {
            String shown = body.length() > 600 ? body.substring(0, 600) + "…(" + body.length() + " chars)" : body;
            return "seed " + seed + ", request " + index + ": POST " + path + " " + shown;
        }
    }

    @Test
    void mutatedRequestsGetAWellFormedAnswerAndLeaveLimitsAndBillingExact() throws Exception {
        long seed = Long.getLong("fuzz.seed", 20261201L);
        int requests = Integer.getInteger("fuzz.requests", 480);
        Random random = new Random(seed);
        List<Exchange> exchanges = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            Base base = BASES.get(i % BASES.size());
            Mutated request = mutate(base, random);
            exchanges.add(send(i, base.path(), request, seed));
        }
        System.out.printf(
                "V1FuzzTest seed %d: %d requests, statuses %s%n", seed, exchanges.size(), countByStatus(exchanges));

        // The fuzzing reached past the checks: some requests were served, others refused for many reasons.
        assertThat(exchanges).filteredOn(e -> e.status() == 200).hasSizeGreaterThan(requests / 10);
        assertThat(exchanges).filteredOn(e -> e.status() == 400).hasSizeGreaterThan(requests / 4);

        // No slot is held once every answer is in (a release may still be on its way for a moment).
        String keys = "flatfare:limits:{" + tenant.account() + "}:";
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(redis.sortedSet(String.class).zcard(keys + "inflight"))
                        .as("slots still held after the run, seed %d", seed)
                        .isZero());

        // Every request answered with 200 has its one usage event; no refused request is billed; the month's
        // quota counted exactly the billable requests.
        List<Exchange> served =
                exchanges.stream().filter(e -> e.status() == 200).toList();
        await().atMost(Duration.ofSeconds(60))
                .untilAsserted(() -> assertThat(eventsById().keySet())
                        .containsAll(served.stream().map(Exchange::requestId).toList()));
        Map<String, List<UsageEvent>> events = eventsById();
        for (Exchange exchange : exchanges) {
            List<UsageEvent> of = events.getOrDefault(exchange.requestId(), List.of());
            assertThat(of).as(exchange.describe(seed)).hasSizeLessThanOrEqualTo(1);
            if (exchange.status() == 200) {
                assertThat(of).as(exchange.describe(seed)).hasSize(1);
                assertThat(of.get(0).httpStatus()).as(exchange.describe(seed)).isEqualTo(200);
            } else if (!of.isEmpty()) {
                assertThat(of.get(0).billable()).as(exchange.describe(seed)).isFalse();
                assertThat(of.get(0).httpStatus()).as(exchange.describe(seed)).isEqualTo(exchange.status());
            }
        }
        long billable = events.values().stream()
                .flatMap(List::stream)
                .filter(UsageEvent::billable)
                .count();
        assertThat(billable).as("billable events, seed %d", seed).isPositive();
        String counted = redis.hash(String.class).hget(keys + "quota", "n");
        assertThat(counted).as("requests the month counted, seed %d", seed).isEqualTo(Long.toString(billable));

        // And the gateway still serves at once.
        Exchange after =
                send(requests, BASES.get(0).path(), new Mutated(BASES.get(0).body(), "application/json"), seed);
        assertThat(after.status()).isEqualTo(200);
    }

    private Map<String, List<UsageEvent>> eventsById() {
        Map<String, List<UsageEvent>> byId = new HashMap<>();
        for (UsageEvent event : usage.forAccount(tenant.account())) {
            byId.computeIfAbsent(event.eventId(), id -> new ArrayList<>()).add(event);
        }
        return byId;
    }

    private static Map<Integer, Long> countByStatus(List<Exchange> exchanges) {
        Map<Integer, Long> counts = new java.util.TreeMap<>();
        exchanges.forEach(e -> counts.merge(e.status(), 1L, Long::sum));
        return counts;
    }

    record Mutated(String body, String contentType) {}

    private Exchange send(int index, String path, Mutated request, long seed) throws IOException, InterruptedException {
        HttpRequest.Builder builder = HttpRequest.newBuilder(root.resolve(path))
                .timeout(Duration.ofSeconds(120))
                .header("Authorization", tenant.bearer())
                .POST(HttpRequest.BodyPublishers.ofByteArray(bytes(request.body())));
        if (request.contentType() != null) {
            builder.header("Content-Type", request.contentType());
        }
        HttpResponse<String> response = http.send(builder.build(), HttpResponse.BodyHandlers.ofString());
        boolean stream =
                response.headers().firstValue("content-type").orElse("").startsWith("text/event-stream");
        // Without an id of the client's, the answer's x-request-id is the usage event's id.
        String requestId = response.headers().firstValue("x-request-id").orElse("");
        Exchange exchange = new Exchange(index, path, request.body(), response.statusCode(), requestId, stream);
        String where = exchange.describe(seed) + "\n answered " + response.statusCode() + ": " + response.body();
        assertThat(response.statusCode()).as(where).isLessThan(500).isNotIn(401, 403, 429);
        assertThat(requestId).as(where).matches("req_[0-9a-f]{32}");
        if (response.statusCode() != 200) {
            assertThat(response.headers().firstValue("content-type").orElse(""))
                    .as(where)
                    .startsWith("application/json");
            assertEnvelope(JSON.readTree(response.body()), where);
        } else if (stream) {
            assertStream(response.body(), path, where);
        } else {
            JsonNode body = JSON.readTree(response.body());
            assertThat(body.path("object").asText()).as(where).isEqualTo(objectOf(path));
        }
        return exchange;
    }

    /** Lone surrogates (from the mutations) go out as the bytes of an invalid UTF-8 sequence, as a bad client would. */
    private static byte[] bytes(String body) {
        if (body.indexOf('\uDFFF') < 0) {
            return body.getBytes(StandardCharsets.UTF_8);
        }
        byte[] utf8 = body.getBytes(StandardCharsets.UTF_8);
        // getBytes turned each lone surrogate into '?'; every '?' becomes a byte no UTF-8 text has there.
        for (int i = 0; i < utf8.length; i++) {
            if (utf8[i] == '?') {
                utf8[i] = (byte) 0xC3;
            }
        }
        return utf8;
    }

    private static String objectOf(String path) {
        return switch (path) {
            case "/v1/chat/completions" -> "chat.completion";
            case "/v1/completions" -> "text_completion";
            case "/v1/embeddings" -> "list";
            case "/v1/responses" -> "response";
            default -> throw new IllegalArgumentException(path);
        };
    }

    private static void assertEnvelope(JsonNode body, String where) {
        JsonNode error = body.path("error");
        assertThat(body.size()).as(where).isEqualTo(1);
        List<String> keys = new ArrayList<>();
        error.fieldNames().forEachRemaining(keys::add);
        assertThat(keys).as(where).containsExactlyInAnyOrder("message", "type", "param", "code");
        assertThat(error.get("message").isTextual()).as(where).isTrue();
        assertThat(error.get("message").asText()).as(where).isNotBlank().doesNotContain("Exception", "at io.");
        assertThat(error.get("type").isTextual()).as(where).isTrue();
        assertThat(error.get("param").isTextual() || error.get("param").isNull())
                .as(where)
                .isTrue();
        assertThat(error.get("code").isTextual() || error.get("code").isNull())
                .as(where)
                .isTrue();
    }

    /**
     * An SSE body: {@code data:} frames of JSON (the Responses API names its events first), ending with
     * {@code [DONE]} on the chat and completions endpoints, or with an error frame in the envelope.
     */
    private static void assertStream(String body, String path, String where) throws IOException {
        assertThat(body).as(where).endsWith("\n\n");
        String last = null;
        for (String frame : body.split("\n\n")) {
            if (frame.startsWith(":")) {
                continue; // keep-alive comment
            }
            String data = null;
            for (String line : frame.split("\n")) {
                if (line.startsWith("data: ")) {
                    data = line.substring("data: ".length());
                } else {
                    assertThat(line).as(where).startsWith("event: ");
                }
            }
            assertThat(data).as(where).isNotNull();
            if (!data.equals("[DONE]")) {
                JsonNode event = JSON.readTree(data);
                if (event.has("error") && !path.equals("/v1/responses")) {
                    assertEnvelope(event, where);
                }
            }
            last = data;
        }
        if (!path.equals("/v1/responses") && !last.equals("[DONE]")) {
            assertEnvelope(JSON.readTree(last), where);
        }
    }

    // ---- mutations ----

    private static Mutated mutate(Base base, Random random) throws IOException {
        int kind = random.nextInt(100);
        if (kind < 8) {
            return new Mutated(textMutation(base.body(), random), "application/json");
        }
        if (kind < 11) {
            String[] types = {
                null, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1"
            };
            return new Mutated(base.body(), types[random.nextInt(types.length)]);
        }
        JsonNode tree = JSON.readTree(base.body());
        int mutations = 1 + random.nextInt(3);
        for (int i = 0; i < mutations; i++) {
            tree = treeMutation(tree, random);
        }
        String body = JSON.writeValueAsString(tree);
        if (random.nextInt(20) == 0) {
            body = deepen(body, random);
        }
        return new Mutated(body, "application/json");
    }

    private static JsonNode treeMutation(JsonNode tree, Random random) {
        if (!(tree instanceof ObjectNode root)) {
            return randomValue(random);
        }
        if (random.nextInt(3) == 0) {
            root.set(FIELDS.get(random.nextInt(FIELDS.size())), randomValue(random));
            return root;
        }
        List<Consumer<JsonNode>> slots = new ArrayList<>();
        collect(root, slots, random);
        if (!slots.isEmpty()) {
            slots.get(random.nextInt(slots.size())).accept(randomValue(random));
        }
        return root;
    }

    /** Every place in the tree a value can be replaced, removed (given null here) or added. */
    private static void collect(JsonNode node, List<Consumer<JsonNode>> slots, Random random) {
        if (node instanceof ObjectNode object) {
            List<String> names = new ArrayList<>();
            object.fieldNames().forEachRemaining(names::add);
            for (String name : names) {
                slots.add(value -> {
                    if (random.nextInt(4) == 0) {
                        object.remove(name);
                    } else {
                        object.set(name, value);
                    }
                });
                collect(object.get(name), slots, random);
            }
            slots.add(value -> object.set(unknownName(random), value));
        } else if (node instanceof ArrayNode array) {
            for (int i = 0; i < array.size(); i++) {
                int index = i;
                slots.add(value -> {
                    if (random.nextInt(4) == 0) {
                        array.remove(index);
                    } else {
                        array.set(index, value);
                    }
                });
                collect(array.get(i), slots, random);
            }
            slots.add(array::add);
        }
    }

    private static String unknownName(Random random) {
        String[] names = {"x_extra", "role", "content", "type", "text", "name", "tool_calls", "image_url", "schema", ""
        };
        return names[random.nextInt(names.length)];
    }

    private static JsonNode randomValue(Random random) {
        String[] literals = {
            "null",
            "true",
            "false",
            "0",
            "-1",
            "1",
            "2",
            "5",
            "129",
            "2147483647",
            "2147483648",
            "-2147483649",
            "9223372036854775807",
            "9223372036854775808",
            "1e308",
            "-1e308",
            "1e-320",
            "0.5",
            "-0.0",
            "3.7",
            "2.0000001",
            "\"\"",
            "\" \"",
            "\"a\"",
            "\"flatfare-tiny\"",
            "\"flatfare-tiny-embed\"",
            "\"tiny\"",
            "\"\\u0000\"",
            "\"\\ud83d\\ude00\"",
            "\"user\"",
            "\"assistant\"",
            "\"tool\"",
            "\"developer\"",
            "\"json_object\"",
            "\"json_schema\"",
            "\"text\"",
            "\"base64\"",
            "\"float\"",
            "\"auto\"",
            "\"none\"",
            "[]",
            "{}",
            "[null]",
            "[1, 2, 3]",
            "[[1, 2], [3]]",
            "[\"a\", \"b\", \"c\", \"d\", \"e\"]",
            "{\"a\": 1}",
            "{\"include_usage\": true}",
            "[{\"role\": \"user\", \"content\": \"hi\"}]",
            "[{\"role\": \"user\"}]",
            "[{\"role\": \"assistant\", \"content\": null}]",
            "[{\"type\": \"text\", \"text\": \"x\"}]",
            "[{\"type\": \"image_url\", \"image_url\": {\"url\": \"http://x\"}}]",
            "{\"type\": \"json_object\"}",
            "{\"type\": \"json_schema\"}",
            "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\"}}",
            "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\", \"schema\": {\"type\": \"string\", \"pattern\": \"(a|\"}}}",
            "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\", \"schema\": {\"$ref\": \"#\"}}}",
            "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\", \"schema\": {\"type\": \"array\", \"minItems\": 100000, \"items\": {\"type\": \"integer\"}}}}",
            "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\", \"schema\": {\"enum\": []}}}",
            "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\", \"schema\": {\"type\": \"integer\", \"minimum\": 5, \"maximum\": 1}}}",
            "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\", \"schema\": {\"type\": \"string\", \"minLength\": 5000000}}}",
            "{\"format\": {\"type\": \"json_schema\", \"name\": \"n\", \"schema\": {\"type\": \"object\", \"properties\": {\"a\": {\"$ref\": \"#/nope\"}}}}}",
            "{\"261\": -100}",
            "{\"-5\": 1}",
            "{\"99999999999\": 1}",
            "{\"a\": 1e9}",
            "{\"1\": \"x\"}",
            "[{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]"
        };
        int pick = random.nextInt(literals.length + 4);
        try {
            if (pick < literals.length) {
                return JSON.readTree(literals[pick]);
            }
            return switch (pick - literals.length) {
                case 0 -> JSON.getNodeFactory().textNode("x".repeat(1 + random.nextInt(40_000)));
                case 1 -> JSON.getNodeFactory().textNode(randomText(random));
                case 2 -> {
                    ArrayNode many = JSON.createArrayNode();
                    int size = random.nextInt(5000);
                    for (int i = 0; i < size; i++) {
                        many.add(random.nextInt(3) == 0 ? "s" + i : Integer.toString(i));
                    }
                    yield many;
                }
                default -> JSON.getNodeFactory().numberNode(random.nextLong());
            };
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Text with control characters, quotes, backslashes, non-BMP characters and lone surrogates. */
    private static String randomText(Random random) {
        StringBuilder text = new StringBuilder();
        int length = random.nextInt(200);
        for (int i = 0; i < length; i++) {
            int kind = random.nextInt(8);
            text.append(
                    switch (kind) {
                        case 0 -> (char) random.nextInt(32);
                        case 1 -> "\"\\/";
                        case 2 -> new String(Character.toChars(0x1F600 + random.nextInt(80)));
                        case 3 -> "\uDFFF";
                        case 4 -> "<|im_end|>";
                        default -> (char) (32 + random.nextInt(95));
                    });
        }
        return text.toString();
    }

    /** Wraps one value of the body in arrays nested deeper than any parser should follow. */
    private static String deepen(String body, Random random) {
        int depth = 500 + random.nextInt(MAX_DEPTH);
        int at = body.indexOf(':');
        if (at < 0) {
            return body;
        }
        String open = "[".repeat(depth);
        String close = "]".repeat(depth);
        int end = body.indexOf(',', at);
        if (end < 0) {
            end = body.lastIndexOf('}');
        }
        return body.substring(0, at + 1) + open + body.substring(at + 1, end) + close + body.substring(end);
    }

    private static String textMutation(String body, Random random) {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        int at = random.nextInt(bytes.length);
        return switch (random.nextInt(7)) {
            case 0 -> body.substring(0, Math.min(at, body.length())); // truncated
            case 1 ->
                body.substring(0, Math.min(at, body.length())) + "\u0001" + body.substring(Math.min(at, body.length()));
            case 2 -> "\uFEFF" + body; // byte order mark
            case 3 -> body.replaceFirst("\\{", "{\"model\": \"flatfare-tiny\", "); // duplicate key
            case 4 -> body.replaceFirst("\\d+", "1" + "0".repeat(1200)); // a number longer than parsers allow
            case 5 -> body + " trailing";
            default -> body.replaceFirst(":", ": NaN, \"x\":");
        };
    }
}
