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

/** The calls of a batch of prompts as one: one after another, numbered, summed, failing and cancelled as one. */
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

        List<GenerateResponse> out = PromptBatch.sequence(List.of(first, second), 2)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE))
                .awaitCompletion(Duration.ofSeconds(5))
                .getItems();

        assertThat(out.stream()
                        .filter(GenerateResponse::hasDelta)
                        .map(e -> e.getDelta().getIndex() + e.getDelta().getText()))
                .containsExactly("0a", "1b", "3d", "2c");
        assertThat(out.stream()
                        .filter(GenerateResponse::hasChoiceFinished)
                        .map(e -> e.getChoiceFinished().getIndex()))
                .containsExactly(0, 1, 3, 2);
        assertThat(out.stream().filter(GenerateResponse::hasDone)).hasSize(1);
        GenerateDone end = out.getLast().getDone();
        assertThat(end.getUsage().getPromptTokens()).isEqualTo(7);
        assertThat(end.getUsage().getCompletionTokens()).isEqualTo(9);
        assertThat(end.getUsage().getTotalTokens()).isEqualTo(16);
        assertThat(end.getTimeToFirstTokenMicros()).as("the first call's").isEqualTo(900);
        assertThat(end.getQueueMicros()).isEqualTo(55);
        assertThat(end.getSystemFingerprint()).isEqualTo("fp");
    }

    @Test
    void theCallsRunOneAfterAnotherSoARequestHoldsOneSlotAtATime() {
        UnicastProcessor<GenerateResponse> first = UnicastProcessor.create();
        AtomicBoolean secondStarted = new AtomicBoolean();
        Multi<GenerateResponse> second = Multi.createFrom()
                .items(delta(0, "c"), done(1, 1, 1, 1))
                .onSubscription()
                .invoke(() -> secondStarted.set(true));
        AssertSubscriber<GenerateResponse> subscriber = PromptBatch.sequence(List.of(first, second), 1)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));

        first.onNext(delta(0, "a"));
        assertThat(subscriber.getItems()).as("passed on as it comes").hasSize(1);
        assertThat(secondStarted).as("not before the first call ended").isFalse();
        first.onNext(done(1, 1, 1, 1));
        first.onComplete();

        subscriber.awaitCompletion(Duration.ofSeconds(5));
        assertThat(secondStarted).isTrue();
        assertThat(subscriber.getItems().stream()
                        .filter(GenerateResponse::hasDelta)
                        .map(e -> e.getDelta().getText()))
                .containsExactly("a", "c");
    }

    @Test
    void aRefusedCallEndsTheWholeAndNoLaterCallStarts() {
        AtomicBoolean thirdStarted = new AtomicBoolean();
        AssertSubscriber<GenerateResponse> subscriber = PromptBatch.sequence(
                        List.of(
                                Multi.createFrom().items(delta(0, "a"), done(1, 1, 1, 1)),
                                Multi.createFrom().failure(new IllegalArgumentException("prompt too long")),
                                Multi.createFrom()
                                        .items(delta(0, "c"))
                                        .onSubscription()
                                        .invoke(() -> thirdStarted.set(true))),
                        1)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));

        subscriber.awaitFailure(Duration.ofSeconds(5));
        subscriber.assertFailedWith(IllegalArgumentException.class, "prompt too long");
        assertThat(thirdStarted).isFalse();
    }

    @Test
    void aClientThatLeavesEndsTheRunningCallAndNoOtherStarts() {
        AtomicBoolean firstCancelled = new AtomicBoolean();
        AtomicBoolean secondStarted = new AtomicBoolean();
        AssertSubscriber<GenerateResponse> subscriber = PromptBatch.sequence(
                        List.of(
                                Multi.createFrom()
                                        .<GenerateResponse>nothing()
                                        .onCancellation()
                                        .invoke(() -> firstCancelled.set(true)),
                                Multi.createFrom()
                                        .<GenerateResponse>nothing()
                                        .onSubscription()
                                        .invoke(() -> secondStarted.set(true))),
                        1)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));

        subscriber.cancel();

        assertThat(firstCancelled).isTrue();
        assertThat(secondStarted).isFalse();
    }

    @Test
    void oneCallIsPassedThroughAsItIs() {
        Multi<GenerateResponse> only = Multi.createFrom().items(delta(0, "a"));
        assertThat(PromptBatch.sequence(List.of(only), 1)).isSameAs(only);
    }
}
