package io.flatfare.gateway.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flatfare.contracts.inference.v1.FinishReason;
import io.flatfare.contracts.inference.v1.GenerateDone;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.gateway.service.V1Call;
import io.vertx.core.buffer.Buffer;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns the events of one {@code Generate} call into OpenAI's JSON: the whole response ({@link #accept} then
 * {@link #response}) or SSE chunks ({@link #chunks} per event, then {@link #end}). One instance per request; events
 * arrive in order from one thread at a time.
 */
final class Completions implements AnswerWriter {

    private final ObjectMapper json;
    private final ChoiceFormat format;
    private final V1Call call;
    private final String id;
    private final long created;
    private final boolean includeUsage;
    private final StringBuilder[] texts;
    private final String[] finishReasons;
    private final boolean[] started;
    private String fingerprint;

    Completions(ObjectMapper json, ChoiceFormat format, V1Call call, boolean includeUsage) {
        this.json = json;
        this.format = format;
        this.call = call;
        this.id = format.idPrefix() + call.eventId();
        this.created = call.receivedAt().getEpochSecond();
        this.includeUsage = includeUsage;
        this.texts = new StringBuilder[call.n()];
        this.finishReasons = new String[call.n()];
        this.started = new boolean[call.n()];
    }

    @Override
    public void accept(GenerateResponse event) {
        fingerprint(event);
        switch (event.getEventCase()) {
            case DELTA -> {
                call.firstOutput();
                int index = index(event.getDelta().getIndex());
                if (texts[index] == null) {
                    texts[index] = new StringBuilder();
                }
                texts[index].append(event.getDelta().getText());
            }
            case CHOICE_FINISHED ->
                finishReasons[index(event.getChoiceFinished().getIndex())] =
                        finishReason(event.getChoiceFinished().getFinishReason());
            case DONE -> done(event.getDone());
            case EVENT_NOT_SET -> {}
        }
    }

    @Override
    public byte[] response() {
        ObjectNode root = header(format.object());
        ArrayNode choices = root.putArray("choices");
        for (int i = 0; i < texts.length; i++) {
            format.choice(
                    choices.addObject(),
                    i,
                    texts[i] == null ? "" : texts[i].toString(),
                    finishReasons[i] == null ? "stop" : finishReasons[i]);
        }
        root.set("usage", usage());
        return bytes(root);
    }

    /** The SSE chunks for one event of a stream (none for the final accounting event). */
    @Override
    public List<Buffer> frames(GenerateResponse event) {
        fingerprint(event);
        List<Buffer> out = new ArrayList<>(2);
        switch (event.getEventCase()) {
            case DELTA -> {
                call.firstOutput();
                int index = index(event.getDelta().getIndex());
                out.add(chunk(index, event.getDelta().getText(), null));
            }
            case CHOICE_FINISHED -> {
                int index = index(event.getChoiceFinished().getIndex());
                out.add(chunk(
                        index, null, finishReason(event.getChoiceFinished().getFinishReason())));
            }
            case DONE -> done(event.getDone());
            case EVENT_NOT_SET -> {}
        }
        return out;
    }

    /** The frames that close a successful stream: the usage chunk when asked for, then {@code [DONE]}. */
    @Override
    public List<Buffer> end() {
        List<Buffer> out = new ArrayList<>(2);
        if (includeUsage) {
            ObjectNode root = header(format.chunkObject());
            root.putArray("choices");
            root.set("usage", usage());
            out.add(Sse.data(bytes(root)));
        }
        out.add(Sse.done());
        return out;
    }

    /** {@code data: {"error":{…}}}: the SDKs raise it as an API error. */
    @Override
    public Buffer failure(OpenAiException error) {
        return Sse.data(bytes(error.envelope(json)));
    }

    private Buffer chunk(int index, String text, String finishReason) {
        ObjectNode root = header(format.chunkObject());
        boolean first = !started[index];
        started[index] = true;
        format.chunkChoice(root.putArray("choices").addObject(), index, text, first, finishReason);
        if (includeUsage) {
            root.putNull("usage");
        }
        return Sse.data(bytes(root));
    }

    private ObjectNode header(String object) {
        ObjectNode root = json.createObjectNode();
        root.put("id", id);
        root.put("object", object);
        root.put("created", created);
        root.put("model", call.model().id());
        root.put("system_fingerprint", fingerprint);
        return root;
    }

    private ObjectNode usage() {
        ObjectNode usage = json.createObjectNode();
        usage.put("prompt_tokens", call.promptTokens());
        usage.put("completion_tokens", call.completionTokens());
        usage.put("total_tokens", call.promptTokens() + call.completionTokens());
        return usage;
    }

    /** Inference sends it on a stream's first message, so every chunk carries it, as OpenAI's do. */
    private void fingerprint(GenerateResponse event) {
        if (fingerprint == null && !event.getSystemFingerprint().isEmpty()) {
            fingerprint = event.getSystemFingerprint();
        }
    }

    private void done(GenerateDone done) {
        if (!done.getSystemFingerprint().isEmpty()) {
            fingerprint = done.getSystemFingerprint();
        }
        call.usage(
                done.getUsage().getPromptTokens(), done.getUsage().getCompletionTokens(), done.getQueueMicros() / 1000);
    }

    private int index(int index) {
        if (index < 0 || index >= texts.length) {
            throw new IllegalStateException("Inference sent choice " + index + " of " + texts.length);
        }
        return index;
    }

    static String finishReason(FinishReason reason) {
        return switch (reason) {
            case LENGTH -> "length";
            case TOOL_CALLS -> "tool_calls";
            case CONTENT_FILTER -> "content_filter";
            case STOP, FINISH_REASON_UNSPECIFIED, UNRECOGNIZED -> "stop";
        };
    }

    private byte[] bytes(ObjectNode node) {
        try {
            return json.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
