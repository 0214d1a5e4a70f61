package io.flatfare.support.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.testing.support.RawHttp;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.ext.web.Router;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** A URL that is malformed gets the envelope from a real Vert.x router; one that decodes reaches its route. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MalformedUrlsTest {

    private static final String ENVELOPE = "{\"error\":{\"message\":\"" + MalformedUrls.MESSAGE
            + "\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_url\"}}";

    private Vertx vertx;
    private HttpServer server;

    @BeforeAll
    void start() throws Exception {
        vertx = Vertx.vertx();
        Router router = Router.router(vertx);
        new MalformedUrls().install(router, new ObjectMapper());
        // A route with a path, as every API's are: matching it decodes the path.
        router.route("/v1/*")
                .handler(context -> context.response()
                        .end("reached " + context.normalizedPath() + " "
                                + context.request().params()));
        server = vertx.createHttpServer()
                .requestHandler(router)
                .listen(0, "127.0.0.1")
                .toCompletionStage()
                .toCompletableFuture()
                .get(30, TimeUnit.SECONDS);
    }

    @AfterAll
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    @Test
    void aPathOrQueryThatDoesNotDecodeOrIsNoUriIs400InTheEnvelope() {
        // The last two decode, but java.net.URI, which Quarkus' HTTP layer checks every URL with, refuses them.
        for (String target : List.of(
                "/v1/models/%ZZ",
                "/v1/models/%",
                "/v1/models/%4",
                "/v1/chat/completions%G1",
                "/v1/models?after=%ZZ",
                "/v1/models/a|b",
                "/v1/models?after=a|b")) {
            RawHttp.Answer answer = RawHttp.get("127.0.0.1", server.actualPort(), target);
            assertThat(answer.status()).as(target).isEqualTo(400);
            assertThat(answer.head()).as(target).containsIgnoringCase("content-type: application/json");
            assertThat(answer.body()).as(target).isEqualTo(ENVELOPE);
        }
    }

    @Test
    void aNulCharacterInThePathOrQueryIs400InTheEnvelope() {
        String envelope = "{\"error\":{\"message\":\"" + MalformedUrls.NUL_MESSAGE
                + "\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_url\"}}";
        for (String target : List.of(
                "/v1/models/a%00b", "/v1/responses/resp_%00", "/v1/models?after=%00", "/v1/models?x=1&plan_id=p%00")) {
            RawHttp.Answer answer = RawHttp.get("127.0.0.1", server.actualPort(), target);
            assertThat(answer.status()).as(target).isEqualTo(400);
            assertThat(answer.body()).as(target).isEqualTo(envelope);
        }
        // A literal "%00" (its '%' encoded) is text like any other (Vert.x keeps %25 encoded in the path).
        RawHttp.Answer literal = RawHttp.get("127.0.0.1", server.actualPort(), "/v1/models/a%2500?after=%2500");
        assertThat(literal.status()).isEqualTo(200);
        assertThat(literal.body()).startsWith("reached /v1/models/a%2500 after=%00");
    }

    @Test
    void aRequestWhoseBodyIsLeftUnreadClosesTheConnection() {
        String body = "{\"model\":\"m\"}";
        RawHttp.Answer answer = RawHttp.exchange(
                "127.0.0.1",
                server.actualPort(),
                "POST /v1/chat/completions?x=%ZZ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                        + "\r\nContent-Length: " + body.length() + "\r\n\r\n" + body);
        assertThat(answer.status()).isEqualTo(400);
        assertThat(answer.head()).containsIgnoringCase("connection: close");
        assertThat(answer.body()).isEqualTo(ENVELOPE);
    }

    @Test
    void aUrlThatDecodesReachesItsRoute() {
        RawHttp.Answer answer = RawHttp.get("127.0.0.1", server.actualPort(), "/v1/models/a%41b?after=%7Ex");
        assertThat(answer.status()).isEqualTo(200);
        assertThat(answer.body()).startsWith("reached /v1/models/aAb after=~x");
    }
}
