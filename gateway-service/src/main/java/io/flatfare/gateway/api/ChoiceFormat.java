package io.flatfare.gateway.api;

import com.fasterxml.jackson.databind.node.ObjectNode;

/** How one endpoint writes choices: chat messages and deltas, or legacy text completions. */
interface ChoiceFormat {

    /** {@code chatcmpl-} or {@code cmpl-}. */
    String idPrefix();

    /** {@code chat.completion} or {@code text_completion}. */
    String object();

    /** {@code chat.completion.chunk} or {@code text_completion}. */
    String chunkObject();

    /** A finished choice of a JSON response. */
    ObjectNode choice(ObjectNode node, int index, String text, String finishReason);

    /** A choice of a stream chunk: text (first says whether this is the choice's first chunk) or the end. */
    ObjectNode chunkChoice(ObjectNode node, int index, String text, boolean first, String finishReason);

    ChoiceFormat CHAT = new ChoiceFormat() {
        @Override
        public String idPrefix() {
            return "chatcmpl-";
        }

        @Override
        public String object() {
            return "chat.completion";
        }

        @Override
        public String chunkObject() {
            return "chat.completion.chunk";
        }

        @Override
        public ObjectNode choice(ObjectNode node, int index, String text, String finishReason) {
            node.put("index", index);
            ObjectNode message = node.putObject("message");
            message.put("role", "assistant");
            message.put("content", text);
            message.putNull("refusal");
            node.putNull("logprobs");
            node.put("finish_reason", finishReason);
            return node;
        }

        @Override
        public ObjectNode chunkChoice(ObjectNode node, int index, String text, boolean first, String finishReason) {
            node.put("index", index);
            ObjectNode delta = node.putObject("delta");
            if (first) {
                delta.put("role", "assistant");
            }
            if (text != null) {
                delta.put("content", text);
            }
            node.putNull("logprobs");
            node.put("finish_reason", finishReason);
            return node;
        }
    };

    ChoiceFormat TEXT = new ChoiceFormat() {
        @Override
        public String idPrefix() {
            return "cmpl-";
        }

        @Override
        public String object() {
            return "text_completion";
        }

        @Override
        public String chunkObject() {
            return "text_completion";
        }

        @Override
        public ObjectNode choice(ObjectNode node, int index, String text, String finishReason) {
            node.put("text", text);
            node.put("index", index);
            node.putNull("logprobs");
            node.put("finish_reason", finishReason);
            return node;
        }

        @Override
        public ObjectNode chunkChoice(ObjectNode node, int index, String text, boolean first, String finishReason) {
            return choice(node, index, text == null ? "" : text, finishReason);
        }
    };
}
