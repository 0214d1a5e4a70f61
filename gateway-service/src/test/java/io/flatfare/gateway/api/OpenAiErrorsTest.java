package io.flatfare.gateway.api;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.notNullValue;
import static org.hamcrest.Matchers.nullValue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.gateway.account.Plan;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.flatfare.testing.support.RawHttp;
import io.netty.handler.codec.http2.Http2Exception;
import io.quarkus.redis.datasource.RedisDataSource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.http.StreamResetException;
import jakarta.inject.Inject;
import jakarta.validation.ValidatorFactory;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Every error status of {@code /v1} with its exact envelope and headers, and what each does to usage. */
@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OpenAiErrorsTest {

    @Inject
    Tenants tenants;

    @TestHTTPResource("/v1/chat/completions")
    URI chatUrl;

    @Inject
    Vertx vertx;

    @Inject
    ValidatorFactory validation;

    @Inject
    RedisDataSource redis;

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

    static final String TOO_LARGE =
            "{\"error\":{\"message\":\"The request body is larger than the limit of 8388608 bytes.\","
                    + "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"request_too_large\"}}";

    /** The 408 of a body that has not arrived within the test profile's body-timeout. */
    static final String LATE =
            "{\"error\":{\"message\":\"The request body did not arrive within 5 seconds of its headers.\","
                    + "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"request_timeout\"}}";

    static final String SMALL_CHAT =
            "{\"model\":\"flatfare-tiny\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

    /** A chat request whose body is over the 8 MiB limit. */
    static String bigChat() {
        return "{\"model\":\"flatfare-tiny\",\"messages\":[{\"role\":\"user\",\"content\":\""
                + "x".repeat(9 * 1024 * 1024) + "\"}]}";
    }

    Response post(String authorization, Object body) {
        var request = given().contentType(ContentType.JSON).body(body);
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return request.post("/v1/chat/completions");
    }

    static Map<String, Object> chat(Object... extra) {
        return OpenAiApiTest.chat(extra);
    }

    /** The envelope: all four keys present, param and code as given (null allowed). */
    static void envelope(Response r, int status, String type, String param, String code) {
        r.then()
                .statusCode(status)
                .contentType(ContentType.JSON)
                .body("error.message", notNullValue())
                .body("error.type", equalTo(type))
                .body("error.param", param == null ? nullValue() : equalTo(param))
                .body("error.code", code == null ? nullValue() : equalTo(code));
        Map<String, Object> error = r.path("error");
        assertThat(error).containsOnlyKeys("message", "type", "param", "code");
        assertThat(r.asString()).doesNotContain("Exception").doesNotContain("at io.");
    }

    @Test
    void anUnknownUrlOrMethodIsNamedInTheEnvelopeAsOpenAiDoes() {
        Response unknown = given().header("Authorization", tenant.bearer()).get("/v1/nothing/here");
        envelope(unknown, 404, "invalid_request_error", null, null);
        assertThat(unknown.<String>path("error.message")).isEqualTo("Invalid URL (GET /v1/nothing/here)");
        Response unauthenticated =
                given().contentType(ContentType.JSON).body("{}").post("/v1/chat/complete");
        envelope(unauthenticated, 404, "invalid_request_error", null, null);
        assertThat(unauthenticated.<String>path("error.message")).isEqualTo("Invalid URL (POST /v1/chat/complete)");
        Response method = given().header("Authorization", tenant.bearer()).get("/v1/chat/completions");
        envelope(method, 405, "invalid_request_error", null, null);
        assertThat(method.<String>path("error.message")).isEqualTo("Invalid method for URL (GET /v1/chat/completions)");
        assertThat(method.header("Allow")).isEqualTo("OPTIONS, POST");
        Response put = given().header("Authorization", tenant.bearer()).put("/v1/models/flatfare-tiny");
        envelope(put, 405, "invalid_request_error", null, null);
        assertThat(put.header("Allow")).isEqualTo("GET, HEAD, OPTIONS");
        // OPTIONS names the same methods, and only for a path that is served.
        Response options = given().options("/v1/chat/completions");
        assertThat(options.statusCode()).isEqualTo(200);
        assertThat(options.header("Allow")).isEqualTo("OPTIONS, POST");
        Response optionsUnknown = given().options("/v1/nothing/here");
        envelope(optionsUnknown, 404, "invalid_request_error", null, null);
        assertThat(optionsUnknown.<String>path("error.message")).isEqualTo("Invalid URL (OPTIONS /v1/nothing/here)");
        assertThat(usage.records(unknown.header("x-request-id"))).isEmpty();
    }

    @Test
    void everyBadKeyGetsTheSameBody() {
        var victim = tenants.generous();
        String expiring = tenants.expiringKey(victim.account(), Duration.ofSeconds(2));
        var revoked = tenants.generous();
        tenants.revoke(revoked);
        await().atMost(Duration.ofSeconds(20))
                .until(() -> post("Bearer " + expiring, chat()).statusCode() == 401
                        && post(revoked.bearer(), chat()).statusCode() == 401);

        List<String> authorizations = List.of(
                "Bearer " + expiring,
                revoked.bearer(),
                "Bearer sk-ff-" + "A".repeat(43),
                "Bearer not-even-a-key",
                "Basic dXNlcjpwYXNz",
                "Bearer ");
        String first = null;
        for (String authorization : authorizations) {
            Response r = post(authorization, chat());
            envelope(r, 401, "invalid_request_error", null, "invalid_api_key");
            first = first == null ? r.asString() : first;
            assertThat(r.asString()).isEqualTo(first);
        }
        Response missing = post(null, chat());
        envelope(missing, 401, "invalid_request_error", null, "invalid_api_key");
        assertThat(missing.asString()).isEqualTo(first);
        // Not authenticated: nobody to bill, so no usage event.
        assertThat(usage.records(missing.header("x-request-id"))).isEmpty();
    }

    @Test
    void invalidParametersAre400NamingTheParamAndAreRejectedUsage() {
        Response r = post(tenant.bearer(), chat("temperature", 5));
        envelope(r, 400, "invalid_request_error", "temperature", "invalid_value");
        UsageEvent event = usage.await(r.header("x-request-id"));
        assertThat(event.outcome()).isEqualTo(Outcome.REJECTED);
        assertThat(event.httpStatus()).isEqualTo(400);
        assertThat(event.billable()).isFalse();

        envelope(post(tenant.bearer(), chat("n", 0)), 400, "invalid_request_error", "n", "invalid_value");
        envelope(
                post(tenant.bearer(), chat("stop", List.of("a", "b", "c", "d", "e"))),
                400,
                "invalid_request_error",
                "stop",
                "invalid_value");
        envelope(
                post(tenant.bearer(), chat("messages", List.of(Map.of("role", "wizard", "content", "x")))),
                400,
                "invalid_request_error",
                "messages[0].role",
                "invalid_value");
        envelope(
                post(tenant.bearer(), chat("messages", List.of())),
                400,
                "invalid_request_error",
                "messages",
                "empty_array");
        envelope(
                post(tenant.bearer(), chat("messages", List.of(Map.of("role", "user", "content", List.of())))),
                400,
                "invalid_request_error",
                "messages[0].content",
                "empty_array");
        envelope(
                post(tenant.bearer(), chat("max_tokens", "many")),
                400,
                "invalid_request_error",
                "max_tokens",
                "invalid_type");
        envelope(
                post(tenant.bearer(), chat("stream_options", Map.of("include_usage", true))),
                400,
                "invalid_request_error",
                "stream_options",
                "invalid_value");
        envelope(
                post(tenant.bearer(), chat("response_format", Map.of("type", "json_schema"))),
                400,
                "invalid_request_error",
                "response_format.json_schema",
                "invalid_value");
        envelope(
                post(
                        tenant.bearer(),
                        chat(
                                "response_format",
                                Map.of(
                                        "type",
                                        "json_schema",
                                        "json_schema",
                                        Map.of(
                                                "name",
                                                "x",
                                                "schema",
                                                Map.of("type", "object", "minProperties", "lots"))))),
                400,
                "invalid_request_error",
                "response_format",
                "invalid_value");
    }

    @Test
    void aMissingRequiredFieldIs400MissingRequiredParameter() {
        var noMessages = chat();
        noMessages.remove("messages");
        missing(post(tenant.bearer(), noMessages), "messages");
        var noModel = chat();
        noModel.remove("model");
        missing(post(tenant.bearer(), noModel), "model");
        missing(post(tenant.bearer(), chat("model", null)), "model");
        missing(post(tenant.bearer(), chat("messages", List.of(Map.of("role", "user")))), "messages[0].content");
        missing(post(tenant.bearer(), chat("messages", List.of(Map.of("content", "x")))), "messages[0].role");
        // Present but blank is a bad value, not a missing one.
        envelope(post(tenant.bearer(), chat("model", " ")), 400, "invalid_request_error", "model", "invalid_value");
    }

    @Test
    void validationCascadesIntoBodiesWithoutAskingJpaWhetherTheyAreLoaded() {
        // Quarkus' default with Hibernate ORM present asks JPA for every property of every body validated.
        assertThat(validation.getTraversableResolver()).isInstanceOf(TraverseEverything.class);
        // The cascade into nested objects still reaches their constraints (messages[0], response_format).
        missing(post(tenant.bearer(), chat("messages", List.of(Map.of("role", "user")))), "messages[0].content");
        missing(
                post(tenant.bearer(), chat("response_format", Map.of("type", "json_schema", "json_schema", Map.of()))),
                "response_format.json_schema.name");
    }

    private static void missing(Response r, String param) {
        envelope(r, 400, "invalid_request_error", param, "missing_required_parameter");
        assertThat(r.jsonPath().getString("error.message")).isEqualTo("Missing required parameter: '" + param + "'.");
    }

    @Test
    void malformedJsonIs400() {
        Response r = given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body("{\"model\": ")
                .post("/v1/chat/completions");
        envelope(r, 400, "invalid_request_error", null, "invalid_json");
        assertThat(usage.await(r.header("x-request-id")).outcome()).isEqualTo(Outcome.REJECTED);
    }

    @Test
    void aJsonBodyCutShortIsInvalidJsonNotABadField() {
        Response r = given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body("{\"model\": \"" + OpenAiApiTest.MODEL + "\", \"messages\": [{\"role\": \"user\"}")
                .post("/v1/chat/completions");
        envelope(r, 400, "invalid_request_error", null, "invalid_json");
        assertThat(r.jsonPath().getString("error.message")).isEqualTo("The request body is not valid JSON.");
    }

    @Test
    void aValidRequestWithSomethingAfterItIsInvalidJson() throws Exception {
        // Read up to its first value, this body was a valid request, billed and answered.
        String valid = new ObjectMapper().writeValueAsString(chat());
        Response r = given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(valid + " {\"model\": \"other\"}")
                .post("/v1/chat/completions");
        envelope(r, 400, "invalid_request_error", null, "invalid_json");
        assertThat(usage.await(r.header("x-request-id")).outcome()).isEqualTo(Outcome.REJECTED);
        envelope(
                given().header("Authorization", tenant.bearer())
                        .contentType(ContentType.JSON)
                        .body(valid + " ]")
                        .post("/v1/chat/completions"),
                400,
                "invalid_request_error",
                null,
                "invalid_json");
        // Whitespace after it is still the same request.
        given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(valid + "\n")
                .post("/v1/chat/completions")
                .then()
                .statusCode(200);
    }

    @Test
    void aValueOfAnotherJsonTypeIs400NeverConverted() {
        // Read leniently, 2.5 would become 2, "0.5" 0.5 and 1 true: the request would change without a word.
        Response r = post(tenant.bearer(), chat("max_tokens", 2.5));
        envelope(r, 400, "invalid_request_error", "max_tokens", "invalid_type");
        assertThat(r.jsonPath().getString("error.message"))
                .isEqualTo("Invalid type for 'max_tokens': expected an integer, but got a decimal number instead.");
        assertThat(usage.await(r.header("x-request-id")).outcome()).isEqualTo(Outcome.REJECTED);
        envelope(post(tenant.bearer(), chat("seed", 1.7)), 400, "invalid_request_error", "seed", "invalid_type");
        envelope(
                post(tenant.bearer(), chat("temperature", "0.5")),
                400,
                "invalid_request_error",
                "temperature",
                "invalid_type");
        envelope(post(tenant.bearer(), chat("stream", 1)), 400, "invalid_request_error", "stream", "invalid_type");
        envelope(post(tenant.bearer(), chat("user", 5)), 400, "invalid_request_error", "user", "invalid_type");
        // An integer where a number is expected is that number.
        post(tenant.bearer(), chat("temperature", 1, "top_p", 1)).then().statusCode(200);
    }

    @Test
    void textThatIsNotUnicodeIs400() {
        // A lone surrogate escape: it would reach the model as '?' and log a protobuf warning per request.
        Response r = given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body("{\"model\": \"" + OpenAiApiTest.MODEL
                        + "\", \"messages\": [{\"role\": \"user\", \"content\": \"a\\ud800b\"}]}")
                .post("/v1/chat/completions");
        envelope(r, 400, "invalid_request_error", "messages[0].content", "invalid_value");
        assertThat(r.jsonPath().getString("error.message")).contains("unpaired UTF-16 surrogate");
    }

    @Test
    void unsupportedFeaturesAreRefusedNeverIgnored() {
        envelope(
                post(tenant.bearer(), chat("tools", List.of(Map.of("type", "function")))),
                400,
                "invalid_request_error",
                "tools",
                "unsupported_parameter");
        envelope(
                post(tenant.bearer(), chat("logprobs", true)),
                400,
                "invalid_request_error",
                "logprobs",
                "unsupported_parameter");
        envelope(
                post(
                        tenant.bearer(),
                        chat(
                                "messages",
                                List.of(Map.of(
                                        "role",
                                        "user",
                                        "content",
                                        List.of(Map.of("type", "image_url", "image_url", Map.of("url", "x"))))))),
                400,
                "invalid_request_error",
                "messages[0].content[0].type",
                "unsupported_parameter");
        envelope(
                post(tenant.bearer(), chat("audio", Map.of("voice", "alloy"))),
                400,
                "invalid_request_error",
                "audio",
                "unsupported_parameter");
        // What the engine cannot do, refused by it in the same words as the gateway's own refusals.
        for (String field : List.of("logprobs", "suffix")) {
            envelope(
                    given().header("Authorization", tenant.bearer())
                            .contentType(ContentType.JSON)
                            .body(Map.of(
                                    "model",
                                    "flatfare-tiny",
                                    "prompt",
                                    "Once",
                                    field,
                                    field.equals("suffix") ? "end" : 1))
                            .post("/v1/completions"),
                    400,
                    "invalid_request_error",
                    field,
                    "unsupported_parameter");
        }
        // Token ids: another tokenizer's would stand for other text.
        List<Map<String, Object>> tokenIds = List.of(
                Map.of("model", "flatfare-tiny-embed", "input", List.of(1, 2, 3)),
                Map.of("model", "flatfare-tiny-embed", "input", List.of(List.of(1, 2), List.of(3))),
                Map.of("model", "flatfare-tiny", "prompt", List.of(1, 2, 3)),
                Map.of("model", "flatfare-tiny", "prompt", List.of(List.of(1, 2))));
        for (Map<String, Object> body : tokenIds) {
            envelope(
                    given().header("Authorization", tenant.bearer())
                            .contentType(ContentType.JSON)
                            .body(body)
                            .post(body.containsKey("input") ? "/v1/embeddings" : "/v1/completions"),
                    400,
                    "invalid_request_error",
                    body.containsKey("input") ? "input" : "prompt",
                    "unsupported_parameter");
        }
    }

    @Test
    void unknownModelIs404AndAWrongCapabilityIs400() {
        Response r = post(tenant.bearer(), chat("model", "no-such-model"));
        envelope(r, 404, "invalid_request_error", "model", "model_not_found");
        UsageEvent event = usage.await(r.header("x-request-id"));
        assertThat(event.model()).isNull();
        assertThat(event.httpStatus()).isEqualTo(404);
        envelope(
                post(tenant.bearer(), chat("model", "flatfare-tiny-embed")),
                400,
                "invalid_request_error",
                "model",
                "model_not_supported");
    }

    @Test
    void aPlansOutputLimitIsPerRequestSharedByItsChoices() {
        var capped = tenants.create(Set.of(Plan.ALL_MODELS), null, null, null, 8);
        Map<String, Object> endBanned = Map.of("261", -100); // so that each choice runs up to its limit

        envelope(
                post(capped.bearer(), chat("n", 2, "max_tokens", 5)),
                400,
                "invalid_request_error",
                "max_tokens",
                "invalid_value");
        Map<String, Object> tooMany = new HashMap<>(chat("n", 9));
        tooMany.remove("max_tokens");
        envelope(post(capped.bearer(), tooMany), 400, "invalid_request_error", "n", "invalid_value");

        post(capped.bearer(), chat("n", 2, "max_tokens", 4, "logit_bias", endBanned))
                .then()
                .statusCode(200)
                .body("usage.completion_tokens", equalTo(8));
        // Without max_tokens, each of the n choices gets its share of the plan's limit.
        Map<String, Object> unset = new HashMap<>(chat("n", 2, "logit_bias", endBanned));
        unset.remove("max_tokens");
        post(capped.bearer(), unset)
                .then()
                .statusCode(200)
                .body("choices.finish_reason", equalTo(List.of("length", "length")))
                .body("usage.completion_tokens", equalTo(8));
    }

    @Test
    void promptTooLongForTheContextIs400ContextLengthExceeded() {
        Response r = post(tenant.bearer(), chat("model", InferencePlatformResource.LONG_MODEL, "max_tokens", 8190));
        envelope(r, 400, "invalid_request_error", "max_tokens", "context_length_exceeded");
        // One prompt of a batch too long: the whole request is refused, and not billed. In a stream, the prompts
        // before it were streamed already (they run one after another): the refusal is its error event.
        Response batch = given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(Map.of("model", "flatfare-tiny", "prompt", List.of("Hi", "x".repeat(5000))))
                .post("/v1/completions");
        envelope(batch, 400, "invalid_request_error", "prompt", "context_length_exceeded");
        assertThat(usage.await(batch.header("x-request-id")).billable()).isFalse();
        // A 50,000-word contract (about 330 KB, over gRPC's default message size of 256 KiB) reaches the model and
        // is judged by its context; it was a 429 "at capacity", which the SDKs retry.
        String contract = "The Supplier shall deliver the goods on time. ".repeat(6_250);
        assertThat(contract.split(" ")).hasSizeGreaterThanOrEqualTo(50_000);
        var unlimited = tenants.create(Set.of(Plan.ALL_MODELS), null, null, null, null, null);
        Response large =
                post(unlimited.bearer(), chat("messages", List.of(Map.of("role", "user", "content", contract))));
        envelope(large, 400, "invalid_request_error", "messages", "context_length_exceeded");
        assertThat(usage.await(large.header("x-request-id")).billable()).isFalse();
        Response streamed = given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(Map.of("model", "flatfare-tiny", "prompt", List.of("Hi", "x".repeat(5000)), "stream", true))
                .post("/v1/completions");
        streamed.then().statusCode(200);
        String[] frames = streamed.asString().split("\n\n");
        assertThat(frames.length).isGreaterThan(1);
        assertThat(frames[frames.length - 1]).startsWith("data: {\"error\":").contains("context_length_exceeded");
        assertThat(streamed.asString()).doesNotContain("[DONE]");
        assertThat(usage.await(streamed.header("x-request-id")).billable()).isFalse();
        // Over the model's output cap in the catalog: refused by the gateway before any compute.
        envelope(
                post(tenant.bearer(), chat("max_tokens", 600)),
                400,
                "invalid_request_error",
                "max_tokens",
                "invalid_value");
    }

    @Test
    void bodyOverTheLimitIs413WithNoUsageEvent() {
        var own = tenants.generous();
        String big = "x".repeat(9 * 1024 * 1024);
        Response r = given().header("Authorization", own.bearer())
                .contentType(ContentType.JSON)
                .body("{\"model\":\"flatfare-tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"" + big + "\"}]}")
                .post("/v1/chat/completions");
        envelope(r, 413, "invalid_request_error", null, "request_too_large");
        onlyALaterRequestIsBilled(own);
    }

    /**
     * The account's requests so far left no usage event: one more request's event is its only one. Events of one
     * account share a partition, so once the later request's event is there, an earlier one's would be too.
     */
    private void onlyALaterRequestIsBilled(Tenants.Tenant own) {
        String later = post(own.bearer(), chat("max_tokens", 1)).header("x-request-id");
        usage.await(later);
        assertThat(usage.forAccount(own.account()))
                .extracting(UsageEvent::eventId)
                .containsExactly(later);
    }

    @Test
    void aUrlThatDoesNotDecodeIs400InTheEnvelopeWithNoUsageEvent() throws Exception {
        var own = tenants.generous();
        String body = SMALL_CHAT;
        // Written by hand: the JDK's client and RestAssured refuse to build a URL that does not decode.
        for (String uri : List.of(
                "/v1/chat/completions?x=%ZZ",
                "/v1/chat/completions%", "/v1/models/%ZZ", "/v1/models?after=%G0", "/v1/models?after=a|b")) {
            RawHttp.Answer answer = RawHttp.exchange(
                    chatUrl.getHost(),
                    chatUrl.getPort(),
                    (uri.startsWith("/v1/chat") ? "POST " : "GET ") + uri + " HTTP/1.1\r\nHost: gateway\r\n"
                            + "Authorization: " + own.bearer() + "\r\nContent-Type: application/json\r\n"
                            + "Content-Length: " + body.length() + "\r\n\r\n" + body);
            assertThat(answer.status()).as(uri).isEqualTo(400);
            assertThat(answer.head()).as(uri).containsIgnoringCase("content-type: application/json");
            assertThat(answer.body())
                    .as(uri)
                    .isEqualTo("{\"error\":{\"message\":\"The request URL is malformed: percent-encode spaces and"
                            + " other special characters, and follow each '%' with two hexadecimal digits.\","
                            + "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_url\"}}");
        }
        // A URL that decodes still works, and is the only request of this account with an event.
        onlyALaterRequestIsBilled(own);
    }

    @Test
    void aChunkedBodyIsReadUpToTheLimitAndRefusedPastItInTheEnvelope() throws Exception {
        // No Content-Length: the size is known only while reading.
        HttpResponse<String> small = chunked(
                "{\"model\":\"flatfare-tiny\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]}");
        assertThat(small.statusCode()).as(small.body()).isEqualTo(200);
        int promptTokens = given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(chat("max_tokens", 1))
                .post("/v1/chat/completions")
                .jsonPath()
                .getInt("usage.prompt_tokens");
        assertThat(small.body()).contains("\"prompt_tokens\":" + promptTokens + ",");

        HttpResponse<String> big = chunked(bigChat());
        assertThat(big.statusCode()).isEqualTo(413);
        assertThat(big.body()).isEqualTo(TOO_LARGE);
    }

    @Test
    void overHttp2ABodyOverTheLimitGetsTheSame413AndTheClientIsToldToStopSending() throws Exception {
        // A Connection header is a protocol error in HTTP/2: the 413 must not carry the HTTP/1.1 one.
        HttpClient2 client = new HttpClient2(vertx);
        try {
            Answer ok = client.post(chatUrl, tenant.bearer(), SMALL_CHAT, true);
            assertThat(ok.version()).isEqualTo(HttpVersion.HTTP_2);
            assertThat(ok.status()).as(ok.body()).isEqualTo(200);

            Answer tooLarge = client.post(chatUrl, tenant.bearer(), bigChat(), true);
            assertThat(tooLarge.version()).isEqualTo(HttpVersion.HTTP_2);
            assertThat(tooLarge.status()).isEqualTo(413);
            assertThat(tooLarge.body()).isEqualTo(TOO_LARGE);
            assertToldToStopSending(tooLarge);

            // Only that stream was reset: the connection serves on.
            Answer after = client.post(chatUrl, tenant.bearer(), SMALL_CHAT, true);
            assertThat(after.status()).as(after.body()).isEqualTo(200);
            assertThat(after.connection()).isSameAs(tooLarge.connection()).isSameAs(ok.connection());
        } finally {
            client.close();
        }
    }

    @Test
    void overHttp2ABodyWithoutALengthIsReadUpToTheLimitAndTheConnectionServesOn() throws Exception {
        // HTTP/2 needs no Content-Length: the size is known only while reading. The HTTP layer's own cut answered
        // with a Connection header, a protocol error in HTTP/2 (the client got no answer), and closed the
        // connection, with every other request on it.
        HttpClient2 client = new HttpClient2(vertx);
        try {
            Answer ok = client.post(chatUrl, tenant.bearer(), SMALL_CHAT, false);
            assertThat(ok.status()).as(ok.body()).isEqualTo(200);
            int promptTokens = given().header("Authorization", tenant.bearer())
                    .contentType(ContentType.JSON)
                    .body(SMALL_CHAT)
                    .post("/v1/chat/completions")
                    .jsonPath()
                    .getInt("usage.prompt_tokens");
            assertThat(ok.body()).contains("\"prompt_tokens\":" + promptTokens + ",");

            Answer tooLarge = client.post(chatUrl, tenant.bearer(), bigChat(), false);
            assertThat(tooLarge.status()).isEqualTo(413);
            assertThat(tooLarge.body()).isEqualTo(TOO_LARGE);

            Answer after = client.post(chatUrl, tenant.bearer(), SMALL_CHAT, false);
            assertThat(after.status()).as(after.body()).isEqualTo(200);
            assertThat(after.connection()).isSameAs(tooLarge.connection()).isSameAs(ok.connection());
        } finally {
            client.close();
        }
    }

    @Test
    void overHttp11ABodyThatStopsHalfwayIs408AndTheConnectionIsClosed() {
        var own = tenants.generous();
        String head = "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: " + own.bearer()
                + "\r\nContent-Type: application/json\r\n";
        // Read by RESTEasy (a length), and by the chunked body handler (none).
        for (String request : List.of(
                head + "Content-Length: " + SMALL_CHAT.length() + "\r\n\r\n" + SMALL_CHAT.substring(0, 20),
                head + "Transfer-Encoding: chunked\r\n\r\n14\r\n" + SMALL_CHAT.substring(0, 20) + "\r\n")) {
            // Returns once the server closed the connection: the client's side stays open, as a stalled client's.
            RawHttp.Answer answer = RawHttp.stall(chatUrl.getHost(), chatUrl.getPort(), request);
            assertThat(answer.status()).as(request).isEqualTo(408);
            assertThat(answer.head()).containsIgnoringCase("connection: close");
            assertThat(answer.body()).isEqualTo(LATE);
        }
        onlyALaterRequestIsBilled(own);
    }

    /**
     * curl and other clients send {@code Expect: 100-continue} with a large body and wait (curl: one second) for the
     * interim answer before sending it; a body over the limit gets its 413 instead and is never sent.
     */
    @Test
    void aClientExpecting100ContinueGetsItAtOnceAndOneOverTheLimitGets413Instead() throws Exception {
        var own = tenants.generous();
        String head = "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: " + own.bearer()
                + "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n";
        byte[] chat = SMALL_CHAT.getBytes(StandardCharsets.UTF_8);
        // Read by RESTEasy (a length), and by the chunked body handler (none).
        for (boolean withLength : List.of(true, false)) {
            try (var socket = new java.net.Socket(chatUrl.getHost(), chatUrl.getPort())) {
                // Below the test profile's body timeout (5 s): a server waiting for the body would answer 408 first.
                socket.setSoTimeout(10_000);
                var out = socket.getOutputStream();
                var in = new java.io.BufferedInputStream(socket.getInputStream());
                out.write((head + (withLength ? "Content-Length: " + chat.length : "Transfer-Encoding: chunked")
                                + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
                assertThat(line(in)).as("with a length: %s", withLength).isEqualTo("HTTP/1.1 100 Continue");
                assertThat(line(in)).isEmpty();
                if (withLength) {
                    out.write(chat);
                } else {
                    out.write((Integer.toHexString(chat.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(chat);
                    out.write("\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                }
                out.flush();
                assertThat(line(in)).as("with a length: %s", withLength).isEqualTo("HTTP/1.1 200 OK");
            }
        }
        RawHttp.Answer tooLarge = RawHttp.exchange(
                chatUrl.getHost(),
                chatUrl.getPort(),
                head + "Content-Length: " + (9 * 1024 * 1024) + "\r\nConnection: close\r\n\r\n");
        assertThat(tooLarge.status()).isEqualTo(413);
        assertThat(tooLarge.head()).doesNotContain("100 Continue");
        assertThat(tooLarge.body()).isEqualTo(TOO_LARGE);
    }

    /** ApacheBench ({@code ab}) and other old tools speak HTTP/1.0: no chunks, the connection closed after. */
    @Test
    void anHttp10ClientGetsWholeAnswersAndStreams() throws Exception {
        var own = tenants.generous();
        for (boolean stream : List.of(false, true)) {
            String body = SMALL_CHAT.replaceFirst("\\{", "{\"stream\":" + stream + ",");
            // Its side left open, as ab leaves it (a client's half-close is taken as the connection's end); the
            // server closes the connection after the answer.
            RawHttp.Answer answer = RawHttp.stall(
                    chatUrl.getHost(),
                    chatUrl.getPort(),
                    "POST /v1/chat/completions HTTP/1.0\r\nHost: gateway\r\nAuthorization: " + own.bearer()
                            + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n"
                            + body);
            String head = answer.head();
            String content = answer.body();
            assertThat(head).as("stream: %s; %s", stream, content).startsWith("HTTP/1.0 200 ");
            assertThat(head).doesNotContainIgnoringCase("transfer-encoding");
            if (stream) {
                assertThat(content).endsWith("data: [DONE]\n\n");
            } else {
                assertThat(head)
                        .containsIgnoringCase("content-length: " + content.getBytes(StandardCharsets.UTF_8).length);
                assertThat(content).contains("\"object\":\"chat.completion\"");
            }
        }
    }

    /** One line of an HTTP/1.1 head, without its CRLF. */
    private static String line(java.io.InputStream in) throws java.io.IOException {
        StringBuilder line = new StringBuilder();
        for (int c = in.read(); c != '\n'; c = in.read()) {
            if (c == -1) {
                throw new java.io.EOFException("The connection closed after: " + line);
            }
            if (c != '\r') {
                line.append((char) c);
            }
        }
        return line.toString();
    }

    @Test
    void overHttp2ABodyThatStopsHalfwayIs408AndTheConnectionServesOn() throws Exception {
        HttpClient2 client = new HttpClient2(vertx);
        try {
            // With a length RESTEasy reads the body, without one readHttp2Body does.
            for (boolean withLength : List.of(true, false)) {
                Answer late = client.stall(chatUrl, tenant.bearer(), SMALL_CHAT, withLength);
                assertThat(late.version()).isEqualTo(HttpVersion.HTTP_2);
                assertThat(late.status()).as("with a length: %s", withLength).isEqualTo(408);
                assertThat(late.body()).isEqualTo(LATE);

                Answer after = client.post(chatUrl, tenant.bearer(), SMALL_CHAT, withLength);
                assertThat(after.status()).as(after.body()).isEqualTo(200);
                assertThat(after.connection()).isSameAs(late.connection());
            }
        } finally {
            client.close();
        }
    }

    /**
     * The server reset the request's stream once its answer was out, instead of taking the whole body: the client's
     * sending ends in failure (a reset, or the stream closed under its queued data), not in success.
     */
    static void assertToldToStopSending(Answer answer) {
        await().atMost(Duration.ofSeconds(30)).until(() -> answer.sent().isComplete());
        assertThat(answer.sent().failed()).as("the whole body was sent").isTrue();
        assertThat(answer.sent().cause())
                .isInstanceOfAny(StreamResetException.class, Http2Exception.StreamException.class);
    }

    /** An answer, the connection it came on, and how sending its request ended. */
    record Answer(HttpVersion version, int status, String body, HttpConnection connection, Future<Void> sent) {}

    /** Vert.x's client speaking HTTP/2 without an upgrade (prior knowledge), as gRPC-style clients and curl do. */
    static final class HttpClient2 {

        private final Context context;
        private final io.vertx.core.http.HttpClient client;

        HttpClient2(Vertx vertx) {
            context = vertx.getOrCreateContext();
            client = vertx.createHttpClient(new HttpClientOptions()
                    .setProtocolVersion(HttpVersion.HTTP_2)
                    .setHttp2ClearTextUpgrade(false));
        }

        /** Without a length, the body goes as DATA frames only, as a proxy forwarding a chunked upload may send it. */
        Answer post(URI url, String authorization, String body, boolean withLength) throws Exception {
            Buffer bytes = Buffer.buffer(body);
            return exchange(url, authorization, withLength ? bytes.length() : -1, request -> request.end(bytes));
        }

        /** Sends the headers (with the whole body's length, when asked) and half of {@code body}, and no more. */
        Answer stall(URI url, String authorization, String body, boolean withLength) throws Exception {
            Buffer half = Buffer.buffer(body.substring(0, body.length() / 2));
            return exchange(url, authorization, withLength ? Buffer.buffer(body).length() : -1, request -> {
                // The reset that ends this stream fails the write's future; it is not an error to log.
                request.exceptionHandler(reset -> {});
                return request.write(half);
            });
        }

        /** A POST with {@code length} as its Content-Length (none when negative), its body sent by {@code sending}. */
        private Answer exchange(
                URI url, String authorization, long length, Function<HttpClientRequest, Future<Void>> sending)
                throws Exception {
            RequestOptions options = new RequestOptions()
                    .setMethod(HttpMethod.POST)
                    .setAbsoluteURI(url.toString())
                    .putHeader("Authorization", authorization)
                    .putHeader("Content-Type", "application/json");
            if (length >= 0) {
                options.putHeader("Content-Length", String.valueOf(length));
            }
            Promise<Answer> answer = Promise.promise();
            // The chain is built on the connection's event loop: built from this thread, its last step could be
            // added after the answer had arrived, and the body read from then on is empty (seen for the 413, whose
            // answer comes while the request is still being sent).
            context.runOnContext(ignored -> client.request(options)
                    .compose(request -> {
                        Future<Void> sent = sending.apply(request.setChunked(length < 0));
                        return request.response()
                                .compose(response -> response.body()
                                        .map(b -> new Answer(
                                                response.version(),
                                                response.statusCode(),
                                                b.toString(),
                                                request.connection(),
                                                sent)));
                    })
                    .onComplete(answer));
            return answer.future().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        }

        void close() {
            client.close();
        }
    }

    private HttpResponse<String> chunked(String body) throws Exception {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        try (HttpClient client =
                HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
            return client.send(
                    HttpRequest.newBuilder(chatUrl)
                            .header("Authorization", tenant.bearer())
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(bytes)))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
        }
    }

    @Test
    void rateLimitIs429WithRetryAfterAndIsNotBilled() {
        var limited = tenants.create(Set.of(Plan.ALL_MODELS), 2, null, null, null);
        for (int i = 0; i < 2; i++) {
            post(limited.bearer(), chat("max_tokens", 1)).then().statusCode(200);
        }
        Response r = post(limited.bearer(), chat("max_tokens", 1));
        envelope(r, 429, "requests", null, "rate_limit_exceeded");
        assertThat(Integer.parseInt(r.header("retry-after"))).isBetween(1, 60);
        assertThat(r.header("x-ratelimit-remaining-requests")).isEqualTo("0");
        UsageEvent event = usage.await(r.header("x-request-id"));
        assertThat(event.outcome()).isEqualTo(Outcome.REJECTED);
        assertThat(event.httpStatus()).isEqualTo(429);
    }

    @Test
    void exhaustedQuotaIs429InsufficientQuotaThatSdksDoNotRetry() {
        var quota = tenants.create(Set.of(Plan.ALL_MODELS), null, null, 1L, null);
        post(quota.bearer(), chat("max_tokens", 1)).then().statusCode(200);
        Response r = post(quota.bearer(), chat("max_tokens", 1));
        envelope(r, 429, "insufficient_quota", null, "insufficient_quota");
        assertThat(r.header("x-should-retry")).isEqualTo("false");
    }

    @Test
    void requestsFailingTheirChecksUseNoLimitThoughTheirAdmissionRanAlongsideTheChecks() throws Exception {
        var limited = tenants.create(Set.of(Plan.ALL_MODELS), 2, 1, 2L, null);
        String keys = "flatfare:limits:{" + limited.account() + "}:";
        post(limited.bearer(), chat("temperature", 5)).then().statusCode(400);
        post(limited.bearer(), chat("model", "no-such-model")).then().statusCode(404);
        post(limited.bearer(), "{\"model\":").then().statusCode(400);
        post(limited.bearer(), chat("max_tokens", -1)).then().statusCode(400);

        // The admission was asked for before the checks (the month's counter exists, so the key was known by then)
        // and withdrawn after them: nothing in flight, nothing counted.
        await().untilAsserted(() -> {
            assertThat(redis.hash(String.class).hget(keys + "quota", "n")).isEqualTo("0");
            assertThat(redis.sortedSet(String.class).zcard(keys + "inflight")).isZero();
        });
        // Asked for before the body is read: it holds its slot while the rest of the body is on its way.
        byte[] invalid =
                "{\"model\":\"flatfare-tiny\",\"messages\":[],\"temperature\":5}".getBytes(StandardCharsets.UTF_8);
        try (var socket = new java.net.Socket(chatUrl.getHost(), chatUrl.getPort())) {
            socket.setSoTimeout(10_000);
            var out = socket.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: " + limited.bearer()
                            + "\r\nContent-Type: application/json\r\nContent-Length: " + invalid.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.write(invalid, 0, 10);
            out.flush();
            await().untilAsserted(() -> assertThat(redis.sortedSet(String.class).zcard(keys + "inflight"))
                    .isEqualTo(1));
            out.write(invalid, 10, invalid.length - 10);
            out.flush();
            assertThat(line(new java.io.BufferedInputStream(socket.getInputStream())))
                    .isEqualTo("HTTP/1.1 400 Bad Request");
        }
        await().untilAsserted(() -> {
            assertThat(redis.hash(String.class).hget(keys + "quota", "n")).isEqualTo("0");
            assertThat(redis.sortedSet(String.class).zcard(keys + "inflight")).isZero();
        });
        Response first = post(limited.bearer(), chat("max_tokens", 1));
        first.then().statusCode(200);
        assertThat(first.header("x-ratelimit-remaining-requests")).isEqualTo("1");
        post(limited.bearer(), chat("max_tokens", 1)).then().statusCode(200);
        envelope(post(limited.bearer(), chat("max_tokens", 1)), 429, "insufficient_quota", null, "insufficient_quota");
    }

    @Test
    void aBodyThatNeverArrivesHoldsNoSlotWhetherTheClientLeavesOrTimesOut() throws Exception {
        var one = tenants.create(Set.of(Plan.ALL_MODELS), null, 1, 10L, null);
        String keys = "flatfare:limits:{" + one.account() + "}:";
        byte[] body = SMALL_CHAT.getBytes(StandardCharsets.UTF_8);
        String head = "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: " + one.bearer()
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n";
        for (boolean leave : List.of(true, false)) {
            // Served, so neither the last round's request used the quota nor holds the slot; and the key is cached
            // (for the test profile's 3 s) right before the next request, which is therefore admitted early.
            post(one.bearer(), chat("max_tokens", 1)).then().statusCode(200);
            // Its slot is given back in the background: until then the next request would find the one slot taken.
            await().untilAsserted(() -> assertThat(redis.sortedSet(String.class).zcard(keys + "inflight"))
                    .isZero());
            try (var socket = new java.net.Socket(chatUrl.getHost(), chatUrl.getPort())) {
                socket.setSoTimeout(10_000);
                var out = socket.getOutputStream();
                out.write(head.getBytes(StandardCharsets.US_ASCII));
                out.write(body, 0, 10);
                out.flush();
                // Admitted while its body is on the way: the plan's one slot is taken.
                await().untilAsserted(
                                () -> assertThat(redis.sortedSet(String.class).zcard(keys + "inflight"))
                                        .isEqualTo(1));
                if (leave) {
                    socket.close(); // the client goes: the slot is free at once, not when the body would time out
                } else {
                    assertThat(line(new java.io.BufferedInputStream(socket.getInputStream())))
                            .isEqualTo("HTTP/1.1 408 Request Timeout");
                }
                await().atMost(Duration.ofSeconds(leave ? 3 : 10))
                        .untilAsserted(
                                () -> assertThat(redis.sortedSet(String.class).zcard(keys + "inflight"))
                                        .isZero());
            }
        }
        post(one.bearer(), chat("max_tokens", 1)).then().statusCode(200);
        assertThat(redis.hash(String.class).hget(keys + "quota", "n")).isEqualTo("3");
    }

    @Test
    void aNonBillableRequestGivesItsQuotaBack() {
        var quota = tenants.create(Set.of(Plan.ALL_MODELS), null, null, 1L, null);
        // Refused by inference (too long for the context) after admission: not billable, quota refunded.
        post(quota.bearer(), chat("model", InferencePlatformResource.LONG_MODEL, "max_tokens", 8190))
                .then()
                .statusCode(400);
        post(quota.bearer(), chat("max_tokens", 1)).then().statusCode(200);
    }
}
