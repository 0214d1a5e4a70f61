package io.flatfare.inference.api;

import com.google.protobuf.Timestamp;
import com.google.protobuf.util.Timestamps;
import io.flatfare.contracts.inference.v1.ChatMessage;
import io.flatfare.contracts.inference.v1.FinishReason;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.ResponseFormat;
import io.flatfare.contracts.inference.v1.SamplingParams;
import io.flatfare.inference.engine.GenerationRequest;
import io.flatfare.inference.engine.InvalidRequestException;
import java.time.Instant;
import java.util.List;

/** Protobuf messages to engine types and back; no rules live here beyond what the wire format implies. */
final class WireMapping {

    private WireMapping() {}

    static GenerationRequest toEngine(GenerateRequest r) {
        SamplingParams s = r.getSampling();
        List<GenerationRequest.ChatMessage> messages = null;
        String prompt = null;
        switch (r.getInputCase()) {
            case CHAT ->
                messages = r.getChat().getMessagesList().stream()
                        .map(WireMapping::toEngine)
                        .toList();
            case PROMPT -> prompt = r.getPrompt();
            case INPUT_NOT_SET ->
                throw new InvalidRequestException("messages", "Either chat messages or a prompt is required.");
        }
        return new GenerationRequest(
                r.getRequestId(),
                messages,
                prompt,
                // uint32 values above 2^31 arrive negative and are rejected by the engine's range check.
                s.hasMaxTokens() ? s.getMaxTokens() : null,
                s.hasMaxTokensCap() ? s.getMaxTokensCap() : null,
                s.hasTemperature() ? s.getTemperature() : null,
                s.hasTopP() ? s.getTopP() : null,
                s.hasSeed() ? s.getSeed() : null,
                s.getStopList(),
                s.hasPresencePenalty() ? s.getPresencePenalty() : null,
                s.hasFrequencyPenalty() ? s.getFrequencyPenalty() : null,
                s.getLogitBiasMap(),
                s.getN() == 0 ? 1 : s.getN(),
                toEngine(r.getResponseFormat()),
                r.getLogprobs(),
                r.getEcho(),
                r.hasSuffix() ? r.getSuffix() : null,
                r.hasDeadline() ? deadline(r.getDeadline()) : null);
    }

    /**
     * A request's {@code deadline}. One outside what a protobuf {@code Timestamp} may hold (years 1 to 9999, nanos
     * within a second) is the caller's mistake, not the engine's failure.
     */
    static Instant deadline(Timestamp deadline) {
        if (!Timestamps.isValid(deadline)) {
            throw new InvalidRequestException("deadline", "The deadline is not a valid timestamp.");
        }
        return Instant.ofEpochSecond(deadline.getSeconds(), deadline.getNanos());
    }

    private static GenerationRequest.ChatMessage toEngine(ChatMessage m) {
        return new GenerationRequest.ChatMessage(m.getRole(), m.getContent(), m.hasName() ? m.getName() : null);
    }

    private static GenerationRequest.ResponseFormat toEngine(ResponseFormat f) {
        return switch (f.getType()) {
            case TYPE_UNSPECIFIED, TEXT -> GenerationRequest.ResponseFormat.TEXT;
            case JSON_OBJECT -> new GenerationRequest.ResponseFormat("json_object", null, null, false);
            case JSON_SCHEMA ->
                new GenerationRequest.ResponseFormat(
                        "json_schema", f.getSchemaName(), f.getJsonSchema(), f.getStrict());
            case UNRECOGNIZED -> throw new InvalidRequestException("response_format", "Unknown response format type.");
        };
    }

    static FinishReason toWire(io.flatfare.inference.engine.FinishReason reason) {
        return switch (reason) {
            case STOP -> FinishReason.STOP;
            case LENGTH -> FinishReason.LENGTH;
        };
    }
}
