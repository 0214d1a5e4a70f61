package io.flatfare.gateway.api;

import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.smallrye.mutiny.Uni;
import io.vertx.core.buffer.Buffer;
import java.util.List;

/**
 * Writes the answer of one generating call from its inference events: the whole JSON response ({@link #accept} per
 * event, then {@link #response}), or the frames of a stream ({@link #frames} per event, then {@link #end}, or
 * {@link #failure} when it fails after its first frame). One instance per request; events arrive in order from one
 * thread at a time. A writer with work to do between the last event and the answer's end (storing it) returns it
 * from {@link #finishing}.
 */
interface AnswerWriter {

    /** Collects one event for a whole-JSON response. */
    void accept(GenerateResponse event);

    /** The JSON response after every event was accepted. */
    byte[] response();

    /** The SSE frames for one event of a stream (possibly none). */
    List<Buffer> frames(GenerateResponse event);

    /** The frames that close a successful stream. */
    List<Buffer> end();

    /** The frame that ends a stream failing after its first frame: an event the SDKs raise as an error. */
    Buffer failure(OpenAiException error);

    /**
     * What runs after the last event of a successful call and before {@link #response} or {@link #end}, off the event
     * loop; it must not fail. Null (the default) when there is nothing to do.
     */
    default Uni<Void> finishing() {
        return null;
    }
}
