package io.flatfare.inference.engine;

import java.util.ArrayList;
import java.util.List;

/** Gathers the text of each choice, for non-streaming callers. */
final class CollectingSink implements GenerationSink {

    private final List<StringBuilder> texts = new ArrayList<>();

    CollectingSink(int choices) {
        for (int i = 0; i < choices; i++) {
            texts.add(new StringBuilder());
        }
    }

    @Override
    public void onDelta(int index, String text) {
        texts.get(index).append(text);
    }

    @Override
    public void onChoiceFinished(int index, FinishReason reason) {}

    List<String> texts() {
        return texts.stream().map(StringBuilder::toString).toList();
    }
}
