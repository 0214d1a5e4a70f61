package io.flatfare.gateway.api;

import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** The one place that frames server-sent events the way the OpenAI SDKs read them. */
public final class Sse {

    public static final String CONTENT_TYPE = "text/event-stream; charset=utf-8";

    private static final byte[] PREFIX = "data: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] SUFFIX = "\n\n".getBytes(StandardCharsets.US_ASCII);
    private static final Buffer DONE = Buffer.buffer("data: [DONE]\n\n");
    private static final Buffer KEEP_ALIVE = Buffer.buffer(": keep-alive\n\n");

    private Sse() {}

    /** {@code data: <json>\n\n}; the JSON is compact (one line), as the framing requires. */
    public static Buffer data(byte[] json) {
        return Buffer.buffer(PREFIX.length + json.length + SUFFIX.length)
                .appendBytes(PREFIX)
                .appendBytes(json)
                .appendBytes(SUFFIX);
    }

    /** {@code event: <type>\ndata: <json>\n\n}: a typed event, as the Responses API streams them. */
    public static Buffer event(String type, byte[] json) {
        byte[] name = ("event: " + type + "\n").getBytes(StandardCharsets.UTF_8);
        return Buffer.buffer(name.length + PREFIX.length + json.length + SUFFIX.length)
                .appendBytes(name)
                .appendBytes(PREFIX)
                .appendBytes(json)
                .appendBytes(SUFFIX);
    }

    /** The end of a successful stream. */
    public static Buffer done() {
        return DONE.copy();
    }

    /**
     * {@code frames}, and until the first of them a comment line every {@code every}. A stream waiting for a slot, or
     * for a long prompt to be read, sends nothing else, and proxies close a connection idle for a minute or so (nginx
     * and cloud load balancers at 60 s by default). The first comment commits the 200: a failure after it is an SSE
     * error event. The SDKs skip comment lines. Zero: no comments.
     */
    public static Multi<Buffer> withKeepAlive(Multi<Buffer> frames, Duration every, Vertx vertx) {
        if (every.isZero() || every.isNegative()) {
            return frames;
        }
        return Multi.createFrom().deferred(() -> {
            UnicastProcessor<Buffer> comments = UnicastProcessor.create();
            boolean[] stopped = {false};
            long timer = vertx.setPeriodic(every.toMillis(), id -> {
                synchronized (comments) {
                    if (!stopped[0]) {
                        comments.onNext(KEEP_ALIVE.copy());
                    }
                }
            });
            Runnable stop = () -> {
                synchronized (comments) {
                    if (!stopped[0]) {
                        stopped[0] = true;
                        vertx.cancelTimer(timer);
                        comments.onComplete();
                    }
                }
            };
            // The comments end with the first frame or the stream's end, so the stream ends as soon as its frames do.
            Multi<Buffer> framesStoppingComments =
                    frames.onItem().invoke(stop).onTermination().invoke(stop);
            return Multi.createBy().merging().streams(framesStoppingComments, comments);
        });
    }
}
