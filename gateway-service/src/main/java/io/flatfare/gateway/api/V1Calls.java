package io.flatfare.gateway.api;

import io.flatfare.gateway.service.CallLifecycle;
import io.flatfare.gateway.service.GatewayMetrics;
import io.flatfare.gateway.service.V1Call;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.context.Context;
import io.smallrye.mutiny.Multi;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.impl.ConnectionBase;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Pattern;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/**
 * Starts the {@link V1Call} of every {@code /v1} request: ids, receipt time, trace context, and the headers every
 * answer carries ({@code x-request-id}, {@code openai-processing-ms}), error envelopes and streams included.
 */
@ApplicationScoped
public class V1Calls {

    private static final String KEY = V1Call.class.getName();
    /** A client's {@code x-request-id} is echoed only when it is a plain, short token. */
    private static final Pattern WELL_FORMED = Pattern.compile("[A-Za-z0-9._:-]{1,128}");

    private final OpenTelemetry telemetry;
    private final CallLifecycle lifecycle;
    private final GatewayMetrics metrics;

    V1Calls(OpenTelemetry telemetry, CallLifecycle lifecycle, GatewayMetrics metrics) {
        this.telemetry = telemetry;
        this.lifecycle = lifecycle;
        this.metrics = metrics;
    }

    // Non-blocking filters must run before all others; this one only reads headers and sets some.
    @ServerRequestFilter(nonBlocking = true, priority = 10)
    public void begin(RoutingContext context) {
        if (!context.normalizedPath().startsWith("/v1/")) {
            return;
        }
        long start = System.nanoTime();
        String eventId = "req_" + UUID.randomUUID().toString().replace("-", "");
        String given = context.request().getHeader("x-request-id");
        String requestId = given != null && WELL_FORMED.matcher(given).matches() ? given : eventId;
        Map<String, String> trace = new HashMap<>();
        telemetry.getPropagators().getTextMapPropagator().inject(Context.current(), trace, Map::put);
        V1Call call = new V1Call(eventId, requestId, Instant.now(), start, trace);
        context.put(KEY, call);
        HttpServerResponse response = context.response();
        response.putHeader("x-request-id", requestId);
        // addHeadersEndHandler, not response.headersEndHandler: the HTTP layer needs that single slot itself.
        context.addHeadersEndHandler(v -> {
            response.putHeader("openai-processing-ms", Long.toString((System.nanoTime() - start) / 1_000_000));
            wholeAnswerWithItsLength(call, context.request().version(), response);
        });
        // The routing context's end handlers, not response.closeHandler: that is a single slot, which the routing
        // context itself and Quarkus' count of active requests (graceful shutdown) need; taking it from them left a
        // request whose client left mid-body counted as active until the shutdown timed out.
        metrics.exchangeOpened();
        context.addEndHandler(ended -> {
            metrics.exchangeReleased();
            if (!response.ended()) {
                call.clientGone();
            }
            if (call.endpoint() == null) {
                // Over before its endpoint ran (the body never arrived, or 408): nothing else will end the call.
                lifecycle.abandon(call);
            }
        });
    }

    /**
     * A generating endpoint's answer goes through the framework's streaming writer, which announces chunks over
     * HTTP/1.1 (and over HTTP/1.0, which has none, nothing: the connection's close ends it); when it is one frame
     * whose size is known now (a JSON answer, {@link V1Call#wholeAnswer}), it goes with its length instead. The client
     * then has the whole answer with that one write, instead of waiting for the end chunk that follows it, and the
     * call's bookkeeping can run after it ({@code Answers#collect}). HTTP/2 frames it by its own end of stream.
     */
    private static void wholeAnswerWithItsLength(V1Call call, HttpVersion version, HttpServerResponse response) {
        int bytes = call.wholeAnswerBytes();
        if (bytes >= 0 && version != HttpVersion.HTTP_2) {
            MultiMap headers = response.headers();
            headers.remove(io.vertx.core.http.HttpHeaders.TRANSFER_ENCODING);
            headers.set(io.vertx.core.http.HttpHeaders.CONTENT_LENGTH, Integer.toString(bytes));
        }
    }

    /**
     * Releases the exchange of an answer the framework cancelled, which it does when the client left: after its
     * close handler ran (nothing to do then), or when writing to it failed. In that second case the framework resets
     * the response next, and Vert.x marks an HTTP/1.x response reset before its connection's close was handled as
     * closed without ever running its end or close handlers: the routing context's end handlers and Quarkus' count of
     * active requests would not hear of it again, and every later graceful shutdown waited its whole timeout for it.
     * Closing the connection first and then ending the response runs them; the end chunk then goes nowhere, so no
     * client can take the cut answer for a whole one. HTTP/2 resets only the stream, which runs its handlers.
     */
    public void answerAbandoned(RoutingContext context) {
        HttpServerResponse response = context.response();
        if (response.ended() || response.closed() || context.request().version() == HttpVersion.HTTP_2) {
            return;
        }
        context.request().connection().close();
        response.end();
    }

    /**
     * {@code frames} for as long as the client's connection is open, as its transport knows it. Netty closes a
     * connection the client left (a reset read, a failed flush) at once, but tells the HTTP layer a turn of the event
     * loop later; a frame written in between failed inside the HTTP encoder, and what its failure leads to (the
     * framework cancelling the answer, {@link #answerAbandoned}, its own reset) wrote through the encoder again while
     * it still held the failed frame's chunk: released twice, with a warning and an IllegalReferenceCountException in
     * the log per such client. So the first frame met with the connection closed is not emitted and ends the answer
     * upstream as cancelled (the call's outcome, the inference call), as the close would a moment later; nothing is
     * signalled downstream, where the close, once the HTTP layer hears of it, cancels the rest as for any client
     * that left. Frames are emitted on the request's event loop, like the write that follows each.
     */
    public Multi<Buffer> whileConnected(RoutingContext context, Multi<Buffer> frames) {
        AtomicBoolean gone = new AtomicBoolean();
        return frames.select()
                .first(frame -> {
                    boolean open = !(context.request().connection() instanceof ConnectionBase connection)
                            || connection.channel().isActive();
                    if (!open) {
                        gone.set(true);
                    }
                    return open;
                })
                .onCompletion()
                .switchTo(() -> gone.get()
                        ? Multi.createFrom().nothing()
                        : Multi.createFrom().empty());
    }

    /**
     * Like OpenAI, {@code /v1} answers JSON or SSE by the body's {@code stream} flag, whatever {@code Accept} says;
     * without this a client sending {@code Accept: text/event-stream} for a stream would get 406.
     */
    @ServerRequestFilter(preMatching = true, nonBlocking = true)
    public void acceptAnything(ContainerRequestContext request) {
        if (request.getUriInfo().getPath().startsWith("/v1/")) {
            request.getHeaders().putSingle(HttpHeaders.ACCEPT, MediaType.WILDCARD);
        }
    }

    /** The call of a {@code /v1} request. */
    public V1Call of(RoutingContext context) {
        V1Call call = context.get(KEY);
        if (call == null) {
            throw new IllegalStateException("No call started for " + context.normalizedPath());
        }
        return call;
    }
}
