package io.flatfare.gateway.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Keep-alive comments of an SSE stream: only before its first frame, and never holding its end back. */
class SseKeepAliveTest {

    private static final Vertx VERTX = Vertx.vertx();
    private static final String COMMENT = ": keep-alive\n\n";

    @AfterAll
    static void close() {
        VERTX.close().toCompletionStage().toCompletableFuture().join();
    }

    @Test
    void commentsFillTheWaitForTheFirstFrameAndStopThere() {
        Multi<Buffer> frames = Multi.createBy()
                .concatenating()
                .streams(
                        Multi.createFrom()
                                .uni(Uni.createFrom()
                                        .item(frame("a"))
                                        .onItem()
                                        .delayIt()
                                        .by(Duration.ofMillis(450))),
                        Multi.createFrom()
                                .uni(Uni.createFrom()
                                        .item(frame("b"))
                                        .onItem()
                                        .delayIt()
                                        .by(Duration.ofMillis(300))));

        List<String> out = texts(Sse.withKeepAlive(frames, Duration.ofMillis(100), VERTX)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE))
                .awaitCompletion(Duration.ofSeconds(10))
                .getItems());

        int first = out.indexOf("data: a\n\n");
        assertThat(first).as("%s", out).isGreaterThanOrEqualTo(2);
        assertThat(out.subList(0, first)).allMatch(COMMENT::equals);
        // None in the 300 ms between the frames: comments only stand in for a first frame.
        assertThat(out.subList(first, out.size())).containsExactly("data: a\n\n", "data: b\n\n");
    }

    @Test
    void aStreamEndsWhenItsFramesDoNotAtTheNextTick() {
        Multi<Buffer> frames = Multi.createFrom().items(frame("a"), frame("b"), frame("c"));

        List<String> out = texts(Sse.withKeepAlive(frames, Duration.ofHours(1), VERTX)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE))
                .awaitCompletion(Duration.ofSeconds(5))
                .getItems());

        assertThat(out).containsExactly("data: a\n\n", "data: b\n\n", "data: c\n\n");
    }

    @Test
    void aFailureBeforeTheFirstFrameEndsTheCommentsAndReachesTheClient() {
        Multi<Buffer> frames = Multi.createFrom()
                .uni(Uni.createFrom()
                        .item(frame("never"))
                        .onItem()
                        .delayIt()
                        .by(Duration.ofMillis(250))
                        .onItem()
                        .failWith(() -> new IllegalStateException("upstream gone")));

        AssertSubscriber<Buffer> subscriber = Sse.withKeepAlive(frames, Duration.ofMillis(100), VERTX)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE))
                .awaitFailure(Duration.ofSeconds(5));

        assertThat(subscriber.getFailure()).hasMessage("upstream gone");
        assertThat(texts(subscriber.getItems())).isNotEmpty().allMatch(COMMENT::equals);
    }

    @Test
    void aClientThatLeavesCancelsTheFrames() {
        AtomicBoolean cancelled = new AtomicBoolean();
        Multi<Buffer> frames =
                Multi.createFrom().<Buffer>nothing().onCancellation().invoke(() -> cancelled.set(true));

        AssertSubscriber<Buffer> subscriber = Sse.withKeepAlive(frames, Duration.ofMillis(50), VERTX)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        subscriber.awaitItems(1, Duration.ofSeconds(5));
        subscriber.cancel();

        assertThat(cancelled).isTrue();
        assertThat(texts(subscriber.getItems())).allMatch(COMMENT::equals);
    }

    @Test
    void zeroMeansNoComments() {
        Multi<Buffer> frames = Multi.createFrom().items(frame("a"));
        assertThat(Sse.withKeepAlive(frames, Duration.ZERO, VERTX)).isSameAs(frames);
    }

    private static Buffer frame(String text) {
        return Buffer.buffer("data: " + text + "\n\n");
    }

    private static List<String> texts(List<Buffer> buffers) {
        return buffers.stream().map(Buffer::toString).toList();
    }
}
