package io.flatfare.inference.engine;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * A generation as the engine sees it, already mapped from the wire. Exactly one of {@code messages} and
 * {@code prompt} is set. Nullable boxed fields mean "not given" (engine default). {@code maxTokensCap} bounds the
 * output only when {@code maxTokens} is not given.
 */
public record GenerationRequest(
        String requestId,
        List<ChatMessage> messages,
        String prompt,
        Integer maxTokens,
        Integer maxTokensCap,
        Float temperature,
        Float topP,
        Long seed,
        List<String> stop,
        Float presencePenalty,
        Float frequencyPenalty,
        Map<Integer, Float> logitBias,
        int n,
        ResponseFormat responseFormat,
        int logprobs,
        boolean echo,
        String suffix,
        Instant deadline) {

    public record ChatMessage(String role, String content, String name) {}

    /** {@code type} is text, json_object or json_schema; {@code schema} is JSON text for json_schema. */
    public record ResponseFormat(String type, String schemaName, String schema, boolean strict) {
        public static final ResponseFormat TEXT = new ResponseFormat("text", null, null, false);
    }

    public boolean isChat() {
        return messages != null;
    }
}
