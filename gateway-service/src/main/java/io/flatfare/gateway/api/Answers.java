package io.flatfare.gateway.api;

import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.gateway.config.ApiConfig;
import io.flatfare.gateway.routing.UpstreamException;
import io.flatfare.gateway.service.CallLifecycle;
import io.flatfare.gateway.service.V1Call;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The answer of a generating endpoint, from the inference events of an admitted call to the frames written: one
 * JSON body, or SSE chunks. Ends the call on completion, failure or cancellation. Shared by {@link V1Resource} and
 * {@link WarmUp}, which runs it on made-up events.
 */
@ApplicationScoped
class Answers {

    private final V1Guard guard;
    private final CallLifecycle lifecycle;
    private final ApiConfig config;
    private final Vertx vertx;

    Answers(V1Guard guard, CallLifecycle lifecycle, ApiConfig config, Vertx vertx) {
        this.guard = guard;
        this.lifecycle = lifecycle;
        this.config = config;
        this.vertx = vertx;
    }

    /**
     * The whole answer as one JSON frame, sent with its length ({@link V1Call#wholeAnswer}); the call ends once the
     * frame is written, so its bookkeeping (the limits' release, the usage event, metrics) does not hold the answer
     * back. A client that leaves before the frame is written ends it as cancelled.
     */
    Multi<Buffer> collect(V1Call call, AnswerWriter out, Multi<GenerateResponse> events) {
        Uni<GenerateResponse> last =
                events.onItem().invoke(out::accept).collect().last();
        Uni<Void> finishing = backOnThisLoop(out.finishing());
        if (finishing != null) {
            last = last.call(ignored -> finishing);
        }
        return Multi.createFrom()
                .uni(last.map(ignored -> {
                    Buffer body = Buffer.buffer(out.response());
                    call.wholeAnswer(body.length());
                    return body;
                }))
                .onCompletion()
                .invoke(() -> lifecycle.finish(call, Outcome.COMPLETED, 200, true))
                .onFailure()
                .transform(failure -> guard.fail(call, failure, true))
                .onCancellation()
                .invoke(() -> lifecycle.finish(call, Outcome.CLIENT_CANCELLED, 499, true));
    }

    /**
     * SSE frames, keep-alive comments until the first, the writer's end; a failure after the first frame is the
     * writer's error event.
     */
    Multi<Buffer> stream(V1Call call, AnswerWriter out, Multi<GenerateResponse> events) {
        AtomicBoolean started = new AtomicBoolean();
        Uni<Void> finishing = backOnThisLoop(out.finishing());
        Multi<Buffer> frames = finishing == null
                ? events.onItem()
                        .transformToIterable(out::frames)
                        .onCompletion()
                        .continueWith(out::end)
                : events.onItem()
                        .transformToIterable(out::frames)
                        .onCompletion()
                        .switchTo(() -> finishing
                                .onItem()
                                .transformToMulti(ignored -> Multi.createFrom().iterable(out.end())));
        return Sse.withKeepAlive(frames, config.streamKeepAlive(), vertx)
                .onItem()
                .invoke(() -> started.set(true))
                .onCompletion()
                .invoke(() -> lifecycle.finish(call, Outcome.COMPLETED, 200, true))
                .onFailure()
                .recoverWithMulti(failure -> {
                    if (!started.get()) {
                        // Nothing sent yet: the client gets the failure's own status and envelope.
                        return Multi.createFrom().failure(guard.fail(call, failure, true));
                    }
                    OpenAiException error = Failures.toOpenAi(failure, config.unavailableRetryAfter());
                    boolean timeout = failure instanceof UpstreamException u
                            && u.kind() == UpstreamException.Kind.DEADLINE_EXCEEDED;
                    lifecycle.finish(call, timeout ? Outcome.TIMEOUT : Outcome.FAILED, 200, true);
                    return Multi.createFrom().item(out.failure(error));
                })
                .onCancellation()
                .invoke(() -> lifecycle.finish(call, Outcome.CLIENT_CANCELLED, started.get() ? 200 : 499, true));
    }

    /**
     * {@code finishing}, ending on the event loop of the request being answered (the calling thread's), where every
     * other frame of an answer is emitted. The writer's finishing runs on a worker thread; frames emitted there would
     * be written by a task that the connection hands its event loop, after whatever else that loop does first, such
     * as closing the connection of a client that left ({@link V1Calls#whileConnected} then sees nothing of it). Null
     * stays null; off a Vert.x context (the warm-up's answers) nothing changes.
     */
    private static Uni<Void> backOnThisLoop(Uni<Void> finishing) {
        Context context = Vertx.currentContext();
        if (finishing == null || context == null) {
            return finishing;
        }
        return finishing.emitOn(task -> context.runOnContext(ignored -> task.run()));
    }
}
