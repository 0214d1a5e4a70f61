package io.flatfare.gateway.api;

import io.vertx.core.buffer.Buffer;
import java.nio.charset.StandardCharsets;

/** The one place that frames server-sent events the way the OpenAI SDKs read them. */
public final class Sse {

    public static final String CONTENT_TYPE = "text/event-stream; charset=utf-8";

    private static final byte[] PREFIX = "data: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] SUFFIX = "\n\n".getBytes(StandardCharsets.US_ASCII);
    private static final Buffer DONE = Buffer.buffer("data: [DONE]\n\n");

    private Sse() {}

    /** {@code data: <json>\n\n}; the JSON is compact (one line), as the framing requires. */
    public static Buffer data(byte[] json) {
        return Buffer.buffer(PREFIX.length + json.length + SUFFIX.length)
                .appendBytes(PREFIX)
                .appendBytes(json)
                .appendBytes(SUFFIX);
    }

    /** The end of a successful stream. */
    public static Buffer done() {
        return DONE.copy();
    }
}
