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
 * The {@code Generate} calls of a completions request with several prompts, as the events of one call: they run at
 * once, their choices renumbered {@code prompt index × n + choice} (OpenAI's numbering), and their final accounting
 * events summed into one that ends the whole. Nothing is passed on until every call has answered once (text, or its
 * end): a prompt the engine refuses (too long for the context, say) then fails the whole request with its own HTTP
 * status, as a single prompt would, instead of cutting a stream the others began. A failure of one ends the whole and
 * cancels the others, as does the client leaving.
 */
final class PromptBatch {

    private record Event(int prompt, GenerateResponse event) {}

    private PromptBatch() {}

    /** {@code calls}: the events of each prompt's call, in prompt order; {@code n}: choices per prompt. */
    static Multi<GenerateResponse> merge(List<Multi<GenerateResponse>> calls, int n) {
        if (calls.size() == 1) {
            return calls.getFirst();
        }
        List<Multi<Event>> tagged = new ArrayList<>(calls.size());
        for (int p = 0; p < calls.size(); p++) {
            int prompt = p;
            tagged.add(calls.get(p).onItem().transform(event -> new Event(prompt, renumber(event, prompt * n))));
        }
        // Merged events arrive one at a time, and the completion after all of them: the state needs no lock.
        var state = new Object() {
            final GenerateDone[] dones = new GenerateDone[calls.size()];
            final boolean[] answered = new boolean[calls.size()];
            int waitingFor = calls.size();
            List<GenerateResponse> held = new ArrayList<>();
        };
        return Multi.createBy()
                .merging()
                .streams(tagged)
                .onItem()
                .transformToIterable(e -> {
                    if (!state.answered[e.prompt()]) {
                        state.answered[e.prompt()] = true;
                        state.waitingFor--;
                    }
                    List<GenerateResponse> out = new ArrayList<>(1);
                    if (e.event().hasDone()) {
                        state.dones[e.prompt()] = e.event().getDone();
                    } else {
                        out.add(e.event());
                    }
                    if (state.held == null) {
                        return out;
                    }
                    state.held.addAll(out);
                    if (state.waitingFor > 0) {
                        return List.of();
                    }
                    out = state.held;
                    state.held = null;
                    return out;
                })
                .onCompletion()
                .continueWith(() -> {
                    List<GenerateResponse> out = state.held == null ? new ArrayList<>() : state.held;
                    out.add(done(state.dones));
                    return out;
                });
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

    /**
     * Token counts summed; the request's time to its first token is its earliest call's, its queue time the longest
     * any call waited.
     */
    private static GenerateResponse done(GenerateDone[] dones) {
        long prompt = 0;
        long completion = 0;
        long firstToken = Long.MAX_VALUE;
        long queue = 0;
        String fingerprint = "";
        for (GenerateDone done : dones) {
            if (done == null) {
                continue;
            }
            prompt += done.getUsage().getPromptTokens();
            completion += done.getUsage().getCompletionTokens();
            firstToken = Math.min(firstToken, done.getTimeToFirstTokenMicros());
            queue = Math.max(queue, done.getQueueMicros());
            if (fingerprint.isEmpty()) {
                fingerprint = done.getSystemFingerprint();
            }
        }
        return GenerateResponse.newBuilder()
                .setDone(GenerateDone.newBuilder()
                        .setUsage(Usage.newBuilder()
                                .setPromptTokens((int) prompt)
                                .setCompletionTokens((int) completion)
                                .setTotalTokens((int) (prompt + completion)))
                        .setSystemFingerprint(fingerprint)
                        .setTimeToFirstTokenMicros(firstToken == Long.MAX_VALUE ? 0 : firstToken)
                        .setQueueMicros(queue))
                .build();
    }
}
