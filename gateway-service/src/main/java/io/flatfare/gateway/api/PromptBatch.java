package io.flatfare.gateway.api;

import io.flatfare.contracts.inference.v1.ChoiceDelta;
import io.flatfare.contracts.inference.v1.ChoiceFinished;
import io.flatfare.contracts.inference.v1.GenerateDone;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.inference.v1.Usage;
import io.smallrye.mutiny.Multi;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code Generate} calls of a completions request with several prompts, as the events of one call: one after
 * another, as the engine runs the {@code n} choices of one prompt, so that a request holds one inference slot at a
 * time and the plan's concurrent requests mean what they say; their choices renumbered {@code prompt index × n +
 * choice} (OpenAI's numbering), and their final accounting events summed into one that ends the whole. A failure of
 * one ends the whole (before the first frame: its own status; after it, as any failure in a stream), and the client
 * leaving ends the call running.
 */
final class PromptBatch {

    private PromptBatch() {}

    /** {@code calls}: the events of each prompt's call, in prompt order; {@code n}: choices per prompt. */
    static Multi<GenerateResponse> sequence(List<Multi<GenerateResponse>> calls, int n) {
        if (calls.size() == 1) {
            return calls.getFirst();
        }
        // One call at a time, and the completion after the last: the array needs no lock.
        GenerateDone[] dones = new GenerateDone[calls.size()];
        List<Multi<GenerateResponse>> renumbered = new ArrayList<>(calls.size());
        for (int p = 0; p < calls.size(); p++) {
            int prompt = p;
            renumbered.add(calls.get(p)
                    .select()
                    .where(event -> {
                        if (event.hasDone()) {
                            dones[prompt] = event.getDone();
                            return false;
                        }
                        return true;
                    })
                    .onItem()
                    .transform(event -> renumber(event, prompt * n)));
        }
        return Multi.createBy()
                .concatenating()
                .streams(renumbered)
                .onCompletion()
                .continueWith(() -> List.of(done(dones)));
    }

    private static GenerateResponse renumber(GenerateResponse event, int offset) {
        if (offset == 0) {
            return event;
        }
        return switch (event.getEventCase()) {
            case DELTA ->
                event.toBuilder()
                        .setDelta(ChoiceDelta.newBuilder(event.getDelta())
                                .setIndex(event.getDelta().getIndex() + offset))
                        .build();
            case CHOICE_FINISHED ->
                event.toBuilder()
                        .setChoiceFinished(ChoiceFinished.newBuilder(event.getChoiceFinished())
                                .setIndex(event.getChoiceFinished().getIndex() + offset))
                        .build();
            default -> event;
        };
    }

    /** Token counts and queue times summed; the time to the first token is the first call's. */
    private static GenerateResponse done(GenerateDone[] dones) {
        long prompt = 0;
        long completion = 0;
        long queue = 0;
        for (GenerateDone done : dones) {
            if (done != null) {
                prompt += done.getUsage().getPromptTokens();
                completion += done.getUsage().getCompletionTokens();
                queue += done.getQueueMicros();
            }
        }
        GenerateDone first = dones[0] == null ? GenerateDone.getDefaultInstance() : dones[0];
        return GenerateResponse.newBuilder()
                .setDone(GenerateDone.newBuilder()
                        .setUsage(Usage.newBuilder()
                                .setPromptTokens((int) prompt)
                                .setCompletionTokens((int) completion)
                                .setTotalTokens((int) (prompt + completion)))
                        .setSystemFingerprint(first.getSystemFingerprint())
                        .setTimeToFirstTokenMicros(first.getTimeToFirstTokenMicros())
                        .setQueueMicros(queue))
                .build();
    }
}
