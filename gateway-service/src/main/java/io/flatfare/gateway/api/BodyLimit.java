package io.flatfare.gateway.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.gateway.config.ApiConfig;
import io.flatfare.support.api.MalformedUrls;
import io.smallrye.mutiny.Uni;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClosedException;
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
 * Nothing else happens for such a request: no authentication, no usage event. The same for a body that has not
 * arrived {@code flatfare.gateway.api.body-timeout} after its headers: 408.
 */
@Singleton
public class BodyLimit {

    /** Set when the routes are installed: this bean, RESTEasy's filter, is created before configuration is read. */
    private volatile long limit;

    void install(@Observes Router router, ApiConfig config, ObjectMapper json) throws JsonProcessingException {
        limit = config.maxBodyBytes();
        Buffer tooLarge = envelope(json, OpenAiException.bodyTooLarge(limit));
        long timeoutMillis = config.bodyTimeout().toMillis();
        Buffer late = envelope(json, OpenAiException.bodyTimedOut(config.bodyTimeout()));
        BodyHandler chunked = BodyHandler.create(false).setBodyLimit(limit);
        router.route("/v1/*")
                // Right after the CORS filter and the check of the URL (matching this route's path decodes it), so a
                // browser can read the 413 too.
                .order(MalformedUrls.ORDER + 1)
                .handler(context -> {
                    HttpServerRequest request = context.request();
                    String length = request.getHeader(HttpHeaders.CONTENT_LENGTH);
                    if (length != null && tooLong(length, limit)) {
                        refuse(context, 413, tooLarge);
                        return;
                    }
                    if (timeoutMillis > 0 && announcesBody(request, length)) {
                        awaitBody(context, timeoutMillis, late);
                    }
                    if (length == null && request.headers().contains(HttpHeaders.TRANSFER_ENCODING)) {
                        // HTTP/1.1 only: RESTEasy pauses every request it takes, which an ended HTTP/2 request
                        // refuses.
                        chunked.handle(context);
                        // The body handler has sent the 100 Continue a client expecting one waits for; RESTEasy,
                        // taking the request after it, would send a second one after the body.
                        request.headers().remove(HttpHeaders.EXPECT);
                    } else {
                        context.next();
                    }
                })
                .failureHandler(context -> {
                    if (context.statusCode() == 413 && !context.response().headWritten()) {
                        refuse(context, 413, tooLarge);
                    } else if (context.response().ended() && context.failure() instanceof HttpClosedException) {
                        // Answered here (408) and the connection closed under the body handler still reading: the
                        // end of that request, not a failure to log.
                    } else {
                        context.next();
                    }
                });
    }

    /**
     * Answers 408 if the body has not arrived {@code timeoutMillis} after the headers, whoever is reading it (RESTEasy,
     * the chunked body handler, {@link #readHttp2Body}); the timer goes when the response ends.
     */
    private static void awaitBody(RoutingContext context, long timeoutMillis, Buffer late) {
        HttpServerRequest request = context.request();
        long timer = context.vertx().setTimer(timeoutMillis, fired -> {
            if (!request.isEnded() && !context.response().headWritten()) {
                refuse(context, 408, late);
            }
        });
        context.addEndHandler(ended -> context.vertx().cancelTimer(timer));
    }

    /**
     * Whether a body is on its way. Not {@code isEnded()} alone: a request RESTEasy has paused (a GET waiting for the
     * database, say) is not ended until resumed, whether or not anything is left to arrive.
     */
    private static boolean announcesBody(HttpServerRequest request, String length) {
        if (request.isEnded()) {
            return false;
        }
        HttpMethod method = request.method();
        if (method == HttpMethod.GET
                || method == HttpMethod.HEAD
                || method == HttpMethod.DELETE
                || method == HttpMethod.OPTIONS) {
            return false;
        }
        if (request.version() == HttpVersion.HTTP_2) {
            return true; // The length is optional; the stream's end says when the body is complete.
        }
        return length != null ? !"0".equals(length.strip()) : request.headers().contains(HttpHeaders.TRANSFER_ENCODING);
    }

    private static Buffer envelope(ObjectMapper json, OpenAiException error) throws JsonProcessingException {
        return Buffer.buffer(json.writeValueAsBytes(error.envelope(json)));
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

    /** Answers a request whose body is not (all) read: 413 or 408. */
    private static void refuse(RoutingContext context, int status, Buffer body) {
        var response = context.response().setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json");
        if (context.request().version() != HttpVersion.HTTP_2) {
            // HTTP/1.1 cannot skip the unread body but by closing. Vert.x closes once the request has ended (the
            // client sending the rest of a body too large reads the 413 first); a body that stopped never ends.
            Future<Void> written =
                    response.putHeader(HttpHeaders.CONNECTION, "close").end(body);
            if (status == 408) {
                written.onComplete(ended -> context.request().connection().close());
            }
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
