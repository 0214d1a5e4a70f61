package io.flatfare.gateway.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.flatfare.contracts.inference.v1.ChoiceDelta;
import io.flatfare.contracts.inference.v1.ChoiceFinished;
import io.flatfare.contracts.inference.v1.FinishReason;
import io.flatfare.contracts.inference.v1.GenerateDone;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.inference.v1.Usage;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** The calls of a batch of prompts as one: numbering, holding back until each answered, summing, failing. */
class PromptBatchTest {

    private static GenerateResponse delta(int index, String text) {
        return GenerateResponse.newBuilder()
                .setDelta(ChoiceDelta.newBuilder().setIndex(index).setText(text))
                .build();
    }

    private static GenerateResponse finished(int index) {
        return GenerateResponse.newBuilder()
                .setChoiceFinished(ChoiceFinished.newBuilder().setIndex(index).setFinishReason(FinishReason.STOP))
                .build();
    }

    private static GenerateResponse done(int prompt, int completion, long firstTokenMicros, long queueMicros) {
        return GenerateResponse.newBuilder()
                .setDone(GenerateDone.newBuilder()
                        .setUsage(Usage.newBuilder()
                                .setPromptTokens(prompt)
                                .setCompletionTokens(completion)
                                .setTotalTokens(prompt + completion))
                        .setSystemFingerprint("fp")
                        .setTimeToFirstTokenMicros(firstTokenMicros)
                        .setQueueMicros(queueMicros))
                .build();
    }

    @Test
    void choicesAreNumberedPromptByPromptAndTheEndsSummedIntoOne() {
        var first =
                Multi.createFrom().items(delta(0, "a"), delta(1, "b"), finished(0), finished(1), done(3, 2, 900, 5));
        var second =
                Multi.createFrom().items(delta(1, "d"), delta(0, "c"), finished(1), finished(0), done(4, 7, 400, 50));

        List<GenerateResponse> out = PromptBatch.merge(List.of(first, second), 2)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE))
                .awaitCompletion(Duration.ofSeconds(5))
                .getItems();

        assertThat(out.stream()
                        .filter(GenerateResponse::hasDelta)
                        .map(e -> e.getDelta().getIndex() + e.getDelta().getText()))
                .containsExactlyInAnyOrder("0a", "1b", "3d", "2c");
        assertThat(out.stream()
                        .filter(GenerateResponse::hasChoiceFinished)
                        .map(e -> e.getChoiceFinished().getIndex()))
                .containsExactlyInAnyOrder(0, 1, 2, 3);
        assertThat(out.stream().filter(GenerateResponse::hasDone)).hasSize(1);
        GenerateDone end = out.getLast().getDone();
        assertThat(end.getUsage().getPromptTokens()).isEqualTo(7);
        assertThat(end.getUsage().getCompletionTokens()).isEqualTo(9);
        assertThat(end.getUsage().getTotalTokens()).isEqualTo(16);
        assertThat(end.getTimeToFirstTokenMicros()).isEqualTo(400);
        assertThat(end.getQueueMicros()).isEqualTo(50);
        assertThat(end.getSystemFingerprint()).isEqualTo("fp");
    }

    @Test
    void nothingIsPassedOnUntilEveryCallAnsweredSoARefusalStillFailsTheWhole() {
        UnicastProcessor<GenerateResponse> first = UnicastProcessor.create();
        UnicastProcessor<GenerateResponse> second = UnicastProcessor.create();
        AtomicBoolean firstCancelled = new AtomicBoolean();
        AssertSubscriber<GenerateResponse> subscriber = PromptBatch.merge(
                        List.of(first.onCancellation().invoke(() -> firstCancelled.set(true)), second), 1)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));

        first.onNext(delta(0, "a"));
        first.onNext(delta(0, "b"));
        assertThat(subscriber.getItems())
                .as("held while the second prompt has not answered")
                .isEmpty();
        second.onError(new IllegalArgumentException("prompt too long"));

        subscriber.assertFailedWith(IllegalArgumentException.class, "prompt too long");
        assertThat(subscriber.getItems()).isEmpty();
        assertThat(firstCancelled).as("the other call is ended").isTrue();
    }

    @Test
    void onceEveryCallAnsweredWhatWasHeldGoesOutInOrderAndTheRestAsItComes() {
        UnicastProcessor<GenerateResponse> first = UnicastProcessor.create();
        UnicastProcessor<GenerateResponse> second = UnicastProcessor.create();
        AssertSubscriber<GenerateResponse> subscriber = PromptBatch.merge(List.of(first, second), 1)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));

        first.onNext(delta(0, "a"));
        first.onNext(delta(0, "b"));
        second.onNext(delta(0, "c"));
        assertThat(subscriber.getItems())
                .extracting(e -> e.getDelta().getText())
                .containsExactly("a", "b", "c");
        first.onNext(delta(0, "d"));
        assertThat(subscriber.getItems()).hasSize(4);
        first.onNext(done(1, 3, 1, 1));
        first.onComplete();
        second.onNext(done(1, 1, 1, 1));
        second.onComplete();
        subscriber.awaitCompletion(Duration.ofSeconds(5));
        assertThat(subscriber.getItems().getLast().getDone().getUsage().getCompletionTokens())
                .isEqualTo(4);
    }

    @Test
    void aClientThatLeavesEndsEveryCall() {
        AtomicBoolean firstCancelled = new AtomicBoolean();
        AtomicBoolean secondCancelled = new AtomicBoolean();
        AssertSubscriber<GenerateResponse> subscriber = PromptBatch.merge(
                        List.of(
                                Multi.createFrom()
                                        .<GenerateResponse>nothing()
                                        .onCancellation()
                                        .invoke(() -> firstCancelled.set(true)),
                                Multi.createFrom()
                                        .<GenerateResponse>nothing()
                                        .onCancellation()
                                        .invoke(() -> secondCancelled.set(true))),
                        1)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));

        subscriber.cancel();

        assertThat(firstCancelled).isTrue();
        assertThat(secondCancelled).isTrue();
    }

    @Test
    void oneCallIsPassedThroughAsItIs() {
        Multi<GenerateResponse> only = Multi.createFrom().items(delta(0, "a"));
        assertThat(PromptBatch.merge(List.of(only), 1)).isSameAs(only);
    }
}
