package io.flatfare.gateway.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.gateway.config.ApiConfig;
import io.flatfare.support.api.MalformedUrls;
import io.smallrye.mutiny.Uni;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;
import jakarta.ws.rs.container.ContainerRequestContext;
import java.io.ByteArrayInputStream;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/**
 * Refuses a {@code /v1} body over the limit with a 413 in the OpenAI envelope. With a {@code Content-Length}, before
 * a byte of it is read. A chunked HTTP/1.1 body is read here up to the limit by Vert.x's body handler, which RESTEasy
 * then takes as the request's body; past the limit it fails the request with 413, answered below. An HTTP/2 body
 * without a length (HTTP/2 needs none) is read by {@link #readHttp2Body}, once RESTEasy has taken the request.
 * (The HTTP layer's own cut, {@code quarkus.http.limits.max-body-size}, stays as a backstop; its 413 is empty and
 * closes the connection, and in HTTP/2 its Connection header leaves the client with no answer at all.)
 * Nothing else happens for such a request: no authentication, no usage event.
 */
@Singleton
public class BodyLimit {

    /** Set when the routes are installed: this bean, RESTEasy's filter, is created before configuration is read. */
    private volatile long limit;

    void install(@Observes Router router, ApiConfig config, ObjectMapper json) throws JsonProcessingException {
        limit = config.maxBodyBytes();
        OpenAiException error = OpenAiException.bodyTooLarge(limit);
        Buffer body = Buffer.buffer(json.writeValueAsBytes(error.envelope(json)));
        BodyHandler chunked = BodyHandler.create(false).setBodyLimit(limit);
        router.route("/v1/*")
                // Right after the CORS filter and the check of the URL (matching this route's path decodes it), so a
                // browser can read the 413 too.
                .order(MalformedUrls.ORDER + 1)
                .handler(context -> {
                    String length = context.request().getHeader(HttpHeaders.CONTENT_LENGTH);
                    if (length != null && tooLong(length, limit)) {
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

    /**
     * Reads an HTTP/2 {@code /v1} body that has no {@code Content-Length} up to the limit, and hands it to RESTEasy as
     * the request's entity; past the limit the request fails with the 413, and the rest of the body is read and
     * dropped, so that the connection, and the other requests on it, go on. Not in the route above: RESTEasy pauses
     * every request it takes, which a request already read to its end refuses.
     */
    @ServerRequestFilter(nonBlocking = true, priority = 20)
    public Uni<Void> readHttp2Body(RoutingContext context, ContainerRequestContext entity) {
        HttpServerRequest request = context.request();
        if (request.version() != HttpVersion.HTTP_2
                || request.method() == HttpMethod.GET
                || request.method() == HttpMethod.HEAD
                || request.headers().contains(HttpHeaders.CONTENT_LENGTH)
                || !context.normalizedPath().startsWith("/v1/")) {
            return null;
        }
        return Uni.createFrom().emitter(done -> {
            Buffer body = Buffer.buffer();
            request.handler(chunk -> {
                if (body.length() + chunk.length() > limit) {
                    request.handler(dropped -> {}).endHandler(null);
                    done.fail(OpenAiException.bodyTooLarge(limit));
                } else {
                    body.appendBuffer(chunk);
                }
            });
            request.exceptionHandler(done::fail);
            request.endHandler(end -> {
                entity.setEntityStream(new ByteArrayInputStream(body.getBytes()));
                done.complete(null);
            });
            request.resume();
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
