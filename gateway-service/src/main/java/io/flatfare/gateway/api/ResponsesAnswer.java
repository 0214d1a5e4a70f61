package io.flatfare.gateway.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flatfare.contracts.inference.v1.FinishReason;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.gateway.api.dto.ResponseRequest;
import io.flatfare.gateway.responses.ResponseStore;
import io.flatfare.gateway.responses.StoredResponse;
import io.flatfare.gateway.responses.StoredResponse.Turn;
import io.flatfare.gateway.service.V1Call;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import io.vertx.core.buffer.Buffer;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.jboss.logging.Logger;

/**
 * The Responses API's answer to one call: a {@code response} object with one assistant message, or its typed
 * stream ({@code response.created}, {@code response.in_progress}, the message's {@code output_item} and
 * {@code content_part} events around its {@code output_text} deltas, then {@code response.completed}, or
 * {@code response.incomplete} when it stopped at {@code max_output_tokens}). With {@link Storing}, the finished
 * response is stored before the answer's end is written (so that a follow-up sent the moment it arrives finds it);
 * a store that fails loses nothing billed or answered: the answer then says {@code "store": false}.
 */
final class ResponsesAnswer implements AnswerWriter {

    private static final Logger LOG = Logger.getLogger(ResponsesAnswer.class);

    /**
     * What storing this response needs: the account it belongs to, the conversation it continues ({@code earlier},
     * from {@code previous_response_id}) and this request's own input messages.
     */
    record Storing(ResponseStore store, String accountId, List<Turn> earlier, List<Turn> input) {}

    private final ObjectMapper json;
    private final V1Call call;
    private final ResponseRequest request;
    private final Storing storing;
    private volatile boolean stored;
    /** The finished response object, built once: what is stored is what is sent. */
    private volatile ObjectNode finished;

    private final String id;
    private final String messageId;
    private final StringBuilder text = new StringBuilder();
    private boolean truncated;
    private boolean done;
    private boolean started;
    private int sequence;

    ResponsesAnswer(ObjectMapper json, V1Call call, ResponseRequest request, Storing storing) {
        this.json = json;
        this.call = call;
        this.request = request;
        this.storing = storing;
        this.stored = storing != null;
        String suffix = call.eventId().startsWith("req_") ? call.eventId().substring(4) : call.eventId();
        this.id = "resp_" + suffix;
        this.messageId = "msg_" + suffix;
    }

    @Override
    public void accept(GenerateResponse event) {
        switch (event.getEventCase()) {
            case DELTA -> {
                call.firstOutput();
                text.append(event.getDelta().getText());
            }
            case CHOICE_FINISHED -> truncated = event.getChoiceFinished().getFinishReason() == FinishReason.LENGTH;
            case DONE -> {
                done = true;
                var usage = event.getDone().getUsage();
                call.usage(
                        usage.getPromptTokens(),
                        usage.getCompletionTokens(),
                        event.getDone().getQueueMicros() / 1000);
            }
            case EVENT_NOT_SET -> {}
        }
    }

    @Override
    public byte[] response() {
        return bytes(finished());
    }

    @Override
    public List<Buffer> frames(GenerateResponse event) {
        List<Buffer> out = new ArrayList<>(5);
        start(out);
        accept(event);
        if (event.getEventCase() == GenerateResponse.EventCase.DELTA
                && !event.getDelta().getText().isEmpty()) {
            ObjectNode delta = event("response.output_text.delta");
            delta.put("item_id", messageId);
            delta.put("output_index", 0);
            delta.put("content_index", 0);
            delta.put("delta", event.getDelta().getText());
            delta.putArray("logprobs");
            out.add(frame(delta));
        }
        return out;
    }

    @Override
    public List<Buffer> end() {
        List<Buffer> out = new ArrayList<>(8);
        start(out);
        ObjectNode textDone = event("response.output_text.done");
        textDone.put("item_id", messageId);
        textDone.put("output_index", 0);
        textDone.put("content_index", 0);
        textDone.put("text", text.toString());
        textDone.putArray("logprobs");
        out.add(frame(textDone));

        ObjectNode partDone = event("response.content_part.done");
        partDone.put("item_id", messageId);
        partDone.put("output_index", 0);
        partDone.put("content_index", 0);
        partDone.set("part", outputText(text.toString()));
        out.add(frame(partDone));

        String status = truncated ? "incomplete" : "completed";
        ObjectNode itemDone = event("response.output_item.done");
        itemDone.put("output_index", 0);
        itemDone.set("item", message(status, true));
        out.add(frame(itemDone));

        ObjectNode last = event("response." + status);
        last.set("response", finished());
        out.add(frame(last));
        return out;
    }

    /** An {@code error} event; its {@code error} member makes the SDKs raise it as an API error. */
    @Override
    public Buffer failure(OpenAiException error) {
        ObjectNode event = event("error");
        event.put("code", error.code());
        event.put("message", error.getMessage());
        event.put("param", error.param());
        event.set("error", error.errorObject(json));
        return frame(event);
    }

    @Override
    public Uni<Void> finishing() {
        if (storing == null) {
            return null;
        }
        return Uni.createFrom()
                .item(() -> {
                    store();
                    return (Void) null;
                })
                .runSubscriptionOn(Infrastructure.getDefaultWorkerPool())
                .onFailure()
                .recoverWithItem(failure -> {
                    LOG.warnf("Response %s was answered but not stored: %s", id, failure.getMessage());
                    stored = false;
                    return null;
                });
    }

    private void store() {
        ObjectNode response = finished();
        ArrayNode items = json.createArrayNode();
        for (int i = 0; i < storing.input().size(); i++) {
            Turn turn = storing.input().get(i);
            ObjectNode item = items.addObject();
            item.put("id", "msg_" + id.substring("resp_".length()) + "_in" + i);
            item.put("type", "message");
            item.put("role", turn.role());
            item.put("status", "completed");
            ObjectNode part = item.putArray("content").addObject();
            part.put("type", "assistant".equals(turn.role()) ? "output_text" : "input_text");
            part.put("text", turn.content());
            if ("assistant".equals(turn.role())) {
                part.putArray("annotations");
            }
        }
        List<Turn> context =
                new ArrayList<>(storing.earlier().size() + storing.input().size() + 1);
        context.addAll(storing.earlier());
        context.addAll(storing.input());
        context.add(new Turn("assistant", text.toString()));
        Instant now = Instant.now();
        storing.store()
                .save(new StoredResponse(
                        id,
                        storing.accountId(),
                        call.receivedAt(),
                        storing.store().expiryOf(now),
                        response,
                        items,
                        context));
    }

    /** The events that open a stream, before its first delta (or its end, when nothing was generated). */
    private void start(List<Buffer> out) {
        if (started) {
            return;
        }
        started = true;
        ObjectNode created = event("response.created");
        created.set("response", response("in_progress"));
        out.add(frame(created));
        ObjectNode inProgress = event("response.in_progress");
        inProgress.set("response", response("in_progress"));
        out.add(frame(inProgress));
        ObjectNode itemAdded = event("response.output_item.added");
        itemAdded.put("output_index", 0);
        itemAdded.set("item", message("in_progress", false));
        out.add(frame(itemAdded));
        ObjectNode partAdded = event("response.content_part.added");
        partAdded.put("item_id", messageId);
        partAdded.put("output_index", 0);
        partAdded.put("content_index", 0);
        partAdded.set("part", outputText(""));
        out.add(frame(partAdded));
    }

    private ObjectNode event(String type) {
        ObjectNode event = json.createObjectNode();
        event.put("type", type);
        event.put("sequence_number", sequence++);
        return event;
    }

    private Buffer frame(ObjectNode event) {
        return Sse.event(event.get("type").asText(), bytes(event));
    }

    /**
     * The completed (or incomplete) response, once the model is done; its {@code store} says whether it was stored,
     * so an answer whose store failed says {@code false} although the same object went to the store saying
     * {@code true}.
     */
    private ObjectNode finished() {
        if (finished == null) {
            finished = response(truncated ? "incomplete" : "completed");
        }
        finished.put("store", stored);
        return finished;
    }

    /** The response object; {@code in_progress} has no output and no usage yet. */
    private ObjectNode response(String status) {
        ObjectNode root = json.createObjectNode();
        root.put("id", id);
        root.put("object", "response");
        root.put("created_at", call.receivedAt().getEpochSecond());
        root.put("status", status);
        root.put("background", false);
        root.putNull("error");
        if ("incomplete".equals(status)) {
            root.putObject("incomplete_details").put("reason", "max_output_tokens");
        } else {
            root.putNull("incomplete_details");
        }
        root.put("instructions", request.instructions());
        root.put("max_output_tokens", request.maxOutputTokens());
        root.put("model", call.model().id());
        var output = root.putArray("output");
        if (!"in_progress".equals(status)) {
            output.add(message(status, true));
        }
        root.put("parallel_tool_calls", !Boolean.FALSE.equals(request.parallelToolCalls()));
        root.put("previous_response_id", request.previousResponseId());
        ObjectNode reasoning = root.putObject("reasoning");
        reasoning.set(
                "effort",
                request.reasoning() == null ? null : request.reasoning().get("effort"));
        reasoning.putNull("summary");
        root.put("service_tier", "default");
        root.put("store", stored);
        root.put("temperature", request.temperature());
        ObjectNode format = root.putObject("text").putObject("format");
        ResponseRequest.Format asked =
                request.text() == null ? null : request.text().format();
        if (asked == null) {
            format.put("type", "text");
        } else {
            format.put("type", asked.type());
            if ("json_schema".equals(asked.type())) {
                format.put("name", asked.name());
                if (asked.description() != null) {
                    format.put("description", asked.description());
                }
                format.set("schema", asked.schema());
                format.put("strict", Boolean.TRUE.equals(asked.strict()));
            }
        }
        root.put("tool_choice", "auto");
        root.putArray("tools");
        root.put("top_p", request.topP());
        root.put("truncation", "disabled");
        if ("in_progress".equals(status) || !done) {
            root.putNull("usage");
        } else {
            ObjectNode usage = root.putObject("usage");
            usage.put("input_tokens", call.promptTokens());
            // Both are required by the API's schema (the Java SDK refuses a usage without cache_write_tokens).
            usage.putObject("input_tokens_details").put("cached_tokens", 0).put("cache_write_tokens", 0);
            usage.put("output_tokens", call.completionTokens());
            usage.putObject("output_tokens_details").put("reasoning_tokens", 0);
            usage.put("total_tokens", call.promptTokens() + call.completionTokens());
        }
        root.put("user", request.user());
        ObjectNode metadata = root.putObject("metadata");
        if (request.metadata() != null) {
            request.metadata().forEach(metadata::put);
        }
        return root;
    }

    private ObjectNode message(String status, boolean withContent) {
        ObjectNode item = json.createObjectNode();
        item.put("id", messageId);
        item.put("type", "message");
        item.put("status", status);
        item.put("role", "assistant");
        var content = item.putArray("content");
        if (withContent) {
            content.add(outputText(text.toString()));
        }
        return item;
    }

    private ObjectNode outputText(String value) {
        ObjectNode part = json.createObjectNode();
        part.put("type", "output_text");
        part.put("text", value);
        part.putArray("annotations");
        part.putArray("logprobs");
        return part;
    }

    private byte[] bytes(ObjectNode node) {
        try {
            return json.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
