package io.flatfare.gateway.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.gateway.config.ApiConfig;
import io.flatfare.support.api.MalformedUrls;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;

/**
 * Refuses a {@code /v1} body over the limit with a 413 in the OpenAI envelope. With a {@code Content-Length}, before
 * a byte of it is read. A chunked HTTP/1.1 body is read here up to the limit by Vert.x's body handler, which RESTEasy
 * then takes as the request's body; past the limit it fails the request with 413, answered below. (The HTTP layer's
 * own cut, {@code quarkus.http.limits.max-body-size}, is what an HTTP/2 request without a length over the limit still
 * meets: its 413 carries Connection: close, a protocol error in HTTP/2, so the client gets no answer, and the connection
 * is closed. RESTEasy cannot take a body read here from HTTP/2: it pauses every request, which an ended one refuses.)
 * Nothing else happens for such a request: no authentication, no usage event.
 */
@Singleton
public class BodyLimit {

    void install(@Observes Router router, ApiConfig config, ObjectMapper json) throws JsonProcessingException {
        OpenAiException error = OpenAiException.bodyTooLarge(config.maxBodyBytes());
        Buffer body = Buffer.buffer(json.writeValueAsBytes(error.envelope(json)));
        BodyHandler chunked = BodyHandler.create(false).setBodyLimit(config.maxBodyBytes());
        router.route("/v1/*")
                // Right after the CORS filter and the check of the URL (matching this route's path decodes it), so a
                // browser can read the 413 too.
                .order(MalformedUrls.ORDER + 1)
                .handler(context -> {
                    String length = context.request().getHeader(HttpHeaders.CONTENT_LENGTH);
                    if (length != null && tooLong(length, config.maxBodyBytes())) {
                        refuse(context, body);
                    } else if (length == null && context.request().headers().contains(HttpHeaders.TRANSFER_ENCODING)) {
                        // HTTP/1.1 only: RESTEasy pauses every request it takes, which an ended HTTP/2 request
                        // refuses.
                        chunked.handle(context);
                    } else {
                        context.next();
                    }
                })
                .failureHandler(context -> {
                    if (context.statusCode() == 413 && !context.response().headWritten()) {
                        refuse(context, body);
                    } else {
                        context.next();
                    }
                });
    }

    private static void refuse(RoutingContext context, Buffer body) {
        var response = context.response().setStatusCode(413).putHeader(HttpHeaders.CONTENT_TYPE, "application/json");
        if (context.request().version() != HttpVersion.HTTP_2) {
            // HTTP/1.1 cannot skip the unread body but by closing.
            response.putHeader(HttpHeaders.CONNECTION, "close").end(body);
            return;
        }
        // HTTP/2: a connection header would be a protocol error, and the connection carries other streams. Once the
        // answer is written, a reset with NO_ERROR tells the client to stop sending the rest of the body (RFC 9113,
        // 8.1), which it would otherwise send in full. Not sooner: a reset drops what is still queued for the stream.
        response.end(body).onSuccess(written -> {
            if (!context.request().isEnded()) {
                response.reset(0);
            }
        });
    }

    private static boolean tooLong(String length, long limit) {
        try {
            return Long.parseLong(length.strip()) > limit;
        } catch (NumberFormatException e) {
            return false; // A malformed length is Vert.x's to refuse.
        }
    }
}
