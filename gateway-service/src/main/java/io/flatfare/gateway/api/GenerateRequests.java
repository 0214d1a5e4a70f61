package io.flatfare.gateway.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.Timestamp;
import io.flatfare.contracts.inference.v1.ChatInput;
import io.flatfare.contracts.inference.v1.ChatMessage;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.ResponseFormat;
import io.flatfare.contracts.inference.v1.SamplingParams;
import io.flatfare.gateway.account.Plan;
import io.flatfare.gateway.api.dto.ChatCompletionRequest;
import io.flatfare.gateway.api.dto.CompletionRequest;
import io.flatfare.gateway.api.dto.ResponseRequest;
import io.flatfare.gateway.responses.StoredResponse;
import io.flatfare.gateway.routing.ResolvedModel;
import io.flatfare.gateway.service.V1Call;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks an OpenAI request against what this release and the caller's plan allow, and turns it into a {@code
 * Generate} call. Known features that cannot be honoured are refused with a 400 naming the field, never dropped.
 */
final class GenerateRequests {

    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant");

    private static final Set<String> CHAT_TEXT_PARTS = Set.of("text");

    /** The Responses API's text parts: {@code input_text}, and {@code output_text} in earlier assistant turns. */
    private static final Set<String> RESPONSES_TEXT_PARTS = Set.of("input_text", "output_text");

    /**
     * OpenAI's {@code max_tokens} for {@code /v1/completions} when a request sets none (or the output cap when that is
     * smaller); chat has no such default.
     */
    private static final int COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

    private GenerateRequests() {}

    static GenerateRequest chat(
            ChatCompletionRequest r, V1Call call, Plan plan, ResolvedModel model, Instant deadline) {
        unsupported(r.tools(), "tools", "Tool calling is not supported yet.");
        unsupported(r.toolChoice(), "tool_choice", "Tool calling is not supported yet.");
        if (Boolean.TRUE.equals(r.parallelToolCalls())) {
            throw OpenAiException.unsupported("parallel_tool_calls", "Tool calling is not supported yet.");
        }
        unsupported(r.functions(), "functions", "Function calling is not supported yet.");
        unsupported(r.functionCall(), "function_call", "Function calling is not supported yet.");
        unsupported(r.audio(), "audio", "Audio output is not supported yet.");
        unsupported(r.prediction(), "prediction", "Predicted outputs are not supported.");
        unsupported(r.webSearchOptions(), "web_search_options", "Web search is not supported.");
        if (r.modalities() != null && !r.modalities().isNull()) {
            for (JsonNode m : r.modalities()) {
                if (!"text".equals(m.asText())) {
                    throw OpenAiException.unsupported("modalities", "Only the text modality is supported.");
                }
            }
        }
        if (Boolean.TRUE.equals(r.logprobs())) {
            throw OpenAiException.unsupported("logprobs", "logprobs are not supported by this model server yet.");
        }
        if (r.topLogprobs() != null) {
            throw OpenAiException.unsupported(
                    "top_logprobs", "top_logprobs needs logprobs, which this model server does not support yet.");
        }

        ChatInput.Builder input = ChatInput.newBuilder();
        long promptChars = 0;
        for (int i = 0; i < r.messages().size(); i++) {
            ChatCompletionRequest.ChatMessage m = r.messages().get(i);
            String param = "messages[" + i + "]";
            String role = m.role();
            if ("tool".equals(role) || "function".equals(role)) {
                throw OpenAiException.unsupported(
                        param + ".role", "Messages with role '" + role + "' need tool calling, not supported yet.");
            }
            if (!ROLES.contains(role)) {
                throw OpenAiException.invalid(
                        param + ".role",
                        "Invalid value for '" + param + ".role': must be system, developer, user or assistant.");
            }
            unsupported(m.toolCalls(), param + ".tool_calls", "Tool calling is not supported yet.");
            unsupported(m.functionCall(), param + ".function_call", "Function calling is not supported yet.");
            unsupported(m.audio(), param + ".audio", "Audio is not supported yet.");
            String text = content(m.content(), param + ".content", "assistant".equals(role));
            promptChars += text.length();
            ChatMessage.Builder message = ChatMessage.newBuilder()
                    // The chat template knows system, user and assistant; developer messages are system messages.
                    .setRole("developer".equals(role) ? "system" : role)
                    .setContent(text);
            if (m.name() != null) {
                message.setName(m.name());
            }
            input.addMessages(message);
        }
        checkPromptSize(promptChars, plan, "messages");
        Integer maxTokens = r.maxCompletionTokens() != null ? r.maxCompletionTokens() : r.maxTokens();
        String maxParam = r.maxCompletionTokens() != null ? "max_completion_tokens" : "max_tokens";

        GenerateRequest.Builder request = GenerateRequest.newBuilder()
                .setRequestId(call.eventId())
                .setModel(model.id())
                .setChat(input)
                .setSampling(sampling(
                        maxTokens,
                        maxParam,
                        null,
                        plan,
                        model,
                        r.n(),
                        1,
                        r.temperature(),
                        r.topP(),
                        r.seed(),
                        r.stop(),
                        r.presencePenalty(),
                        r.frequencyPenalty(),
                        r.logitBias()))
                .setDeadline(timestamp(deadline));
        if (r.responseFormat() != null) {
            request.setResponseFormat(responseFormat(r.responseFormat()));
        }
        return request.build();
    }

    /**
     * {@code POST /v1/responses}: {@code instructions} as the first system message, then the conversation it continues
     * ({@code earlier}: the stored one of {@code previous_response_id}, else empty), then {@code input} (a string, one
     * user message; or message items). What needs tools or server-side state beyond stored responses is a 400 naming
     * the field.
     */
    static GenerateRequest responses(
            ResponseRequest r,
            List<StoredResponse.Turn> earlier,
            V1Call call,
            Plan plan,
            ResolvedModel model,
            Instant deadline) {
        unsupported(r.tools(), "tools", "Tools are not supported yet.");
        if (r.toolChoice() != null
                && !r.toolChoice().isNull()
                && !(r.toolChoice().isTextual()
                        && Set.of("auto", "none").contains(r.toolChoice().asText()))) {
            throw OpenAiException.unsupported("tool_choice", "Tools are not supported yet.");
        }
        unsupported(
                r.conversation(),
                "conversation",
                "Conversation objects are not supported: continue with 'previous_response_id' or send the whole"
                        + " conversation in 'input'.");
        if (Boolean.TRUE.equals(r.background())) {
            throw OpenAiException.unsupported("background", "Background responses are not supported.");
        }
        unsupported(r.include(), "include", "'include' asks for output this server does not produce.");
        unsupported(r.prompt(), "prompt", "Stored prompt templates are not supported.");
        if (r.topLogprobs() != null) {
            throw OpenAiException.unsupported("top_logprobs", "logprobs are not supported by this model server yet.");
        }
        if ("auto".equals(r.truncation())) {
            throw OpenAiException.unsupported(
                    "truncation", "Automatic truncation is not supported; a prompt over the context is a 400.");
        }

        ChatInput.Builder input = ChatInput.newBuilder();
        long promptChars = 0;
        if (r.instructions() != null) {
            input.addMessages(ChatMessage.newBuilder().setRole("system").setContent(r.instructions()));
            promptChars += r.instructions().length();
        }
        for (StoredResponse.Turn turn : earlier) {
            input.addMessages(ChatMessage.newBuilder().setRole(turn.role()).setContent(turn.content()));
            promptChars += turn.content().length();
        }
        JsonNode items = r.input();
        if (items.isTextual()) {
            input.addMessages(ChatMessage.newBuilder().setRole("user").setContent(items.asText()));
            promptChars += items.asText().length();
        } else if (items.isArray()) {
            if (items.isEmpty()) {
                throw OpenAiException.emptyArray("input");
            }
            for (int i = 0; i < items.size(); i++) {
                String param = "input[" + i + "]";
                JsonNode item = items.get(i);
                String type = item.path("type").asText("message");
                if (!item.isObject() || !"message".equals(type)) {
                    throw OpenAiException.unsupported(
                            param + ".type",
                            "Input items of type '" + type + "' are not supported yet; only messages are.");
                }
                if (item.path("role").isMissingNode()) {
                    throw OpenAiException.missing(param + ".role");
                }
                String role = item.path("role").asText("");
                if (!ROLES.contains(role)) {
                    throw OpenAiException.invalid(
                            param + ".role",
                            "Invalid value for '" + param + ".role': must be system, developer, user or assistant.");
                }
                String text = content(item.get("content"), param + ".content", false, RESPONSES_TEXT_PARTS);
                promptChars += text.length();
                input.addMessages(ChatMessage.newBuilder()
                        .setRole("developer".equals(role) ? "system" : role)
                        .setContent(text));
            }
        } else {
            throw OpenAiException.invalid("input", "'input' must be a string or an array of input items.");
        }
        checkPromptSize(promptChars, plan, "input");

        GenerateRequest.Builder request = GenerateRequest.newBuilder()
                .setRequestId(call.eventId())
                .setModel(model.id())
                .setChat(input)
                .setSampling(sampling(
                        r.maxOutputTokens(),
                        "max_output_tokens",
                        null,
                        plan,
                        model,
                        1,
                        1,
                        r.temperature(),
                        r.topP(),
                        null,
                        null,
                        null,
                        null,
                        null))
                .setDeadline(timestamp(deadline));
        if (r.text() != null && r.text().format() != null) {
            request.setResponseFormat(textFormat(r.text().format()));
        }
        return request.build();
    }

    private static ResponseFormat textFormat(ResponseRequest.Format f) {
        if ("json_schema".equals(f.type())) {
            if (f.name() == null) {
                throw OpenAiException.invalid(
                        "text.format.name", "'text.format.name' is required when the type is json_schema.");
            }
            if (f.schema() == null || !f.schema().isObject()) {
                throw OpenAiException.invalid(
                        "text.format.schema", "'text.format.schema' must be a JSON schema object.");
            }
        }
        return format(f.type(), f.name(), f.schema(), f.strict());
    }

    /**
     * {@code POST /v1/completions}: one {@code Generate} call per prompt, each with the request's {@code n} choices.
     * Several prompts (an array of strings, at most {@code maxPrompts}) are a batch: one request, whose choices are
     * numbered {@code prompt index × n + choice} as OpenAI numbers them, and whose plan limits (prompt size, output
     * tokens) are shared by all of them, as by the choices of one prompt: the price is per request.
     */
    static List<GenerateRequest> completion(
            CompletionRequest r, V1Call call, Plan plan, ResolvedModel model, Instant deadline, int maxPrompts) {
        List<String> prompts = prompts(r.prompt(), maxPrompts);
        checkPromptSize(prompts.stream().mapToLong(String::length).sum(), plan, "prompt");
        if (r.bestOf() != null && r.bestOf() != (r.n() == null ? 1 : r.n())) {
            throw OpenAiException.unsupported("best_of", "best_of is supported only when it equals n.");
        }
        SamplingParams sampling = sampling(
                r.maxTokens(),
                "max_tokens",
                COMPLETIONS_DEFAULT_MAX_TOKENS,
                plan,
                model,
                r.n(),
                prompts.size(),
                r.temperature(),
                r.topP(),
                r.seed(),
                r.stop(),
                r.presencePenalty(),
                r.frequencyPenalty(),
                r.logitBias());
        GenerateRequest.Builder request = GenerateRequest.newBuilder()
                .setRequestId(call.eventId())
                .setModel(model.id())
                .setSampling(sampling)
                .setDeadline(timestamp(deadline))
                // The engine refuses what it cannot do (logprobs, suffix) with a message naming the field.
                .setLogprobs(r.logprobs() == null ? 0 : r.logprobs())
                .setEcho(Boolean.TRUE.equals(r.echo()));
        if (r.suffix() != null) {
            request.setSuffix(r.suffix());
        }
        List<GenerateRequest> requests = new ArrayList<>(prompts.size());
        for (String prompt : prompts) {
            requests.add(request.setPrompt(prompt).build());
        }
        return requests;
    }

    /** {@code defaultMaxTokens}: the endpoint's own default when the request sets none (null: up to the cap). */
    private static SamplingParams sampling(
            Integer maxTokens,
            String maxParam,
            Integer defaultMaxTokens,
            Plan plan,
            ResolvedModel model,
            Integer n,
            int prompts,
            Double temperature,
            Double topP,
            Long seed,
            JsonNode stop,
            Double presencePenalty,
            Double frequencyPenalty,
            Map<String, Double> logitBias) {
        int perPrompt = n == null ? 1 : n;
        SamplingParams.Builder s = SamplingParams.newBuilder().setN(perPrompt);
        int choices = perPrompt * prompts;
        int cap = outputCap(plan, model, choices);
        if (maxTokens == null && defaultMaxTokens != null) {
            maxTokens = cap > 0 ? Math.min(defaultMaxTokens, cap) : defaultMaxTokens;
        }
        if (maxTokens != null) {
            if (cap > 0 && maxTokens > cap) {
                throw OpenAiException.invalid(
                        maxParam,
                        choices == 1
                                ? "'" + maxParam + "' is " + maxTokens + "; the most this plan and model allow is "
                                        + cap + "."
                                : "'" + maxParam + "' is " + maxTokens + " for each of " + choices + " choices ("
                                        + (prompts == 1 ? "'n'" : prompts + " prompts × 'n'") + "); the most this"
                                        + " plan and model allow is " + cap + " per choice (a plan's output limit is"
                                        + " per request, shared by its choices).");
            }
            s.setMaxTokens(maxTokens);
        } else if (cap > 0) {
            s.setMaxTokensCap(cap);
        }
        if (temperature != null) {
            s.setTemperature(temperature.floatValue());
        }
        if (topP != null) {
            s.setTopP(topP.floatValue());
        }
        if (seed != null) {
            s.setSeed(seed);
        }
        s.addAllStop(stop(stop));
        if (presencePenalty != null) {
            s.setPresencePenalty(presencePenalty.floatValue());
        }
        if (frequencyPenalty != null) {
            s.setFrequencyPenalty(frequencyPenalty.floatValue());
        }
        if (logitBias != null) {
            logitBias.forEach((token, bias) -> s.putLogitBias(tokenId(token), bias.floatValue()));
        }
        return s.build();
    }

    /**
     * The most output tokens each choice may have; 0 when nothing limits it. The model's limit is per completion; the
     * plan's is per request, shared by its {@code n} choices: at a flat price per request, {@code n} must not multiply
     * what one request may cost to serve.
     */
    private static int outputCap(Plan plan, ResolvedModel model, int choices) {
        int cap = model.maxOutputTokens();
        Integer planCap = plan.maxOutputTokens();
        if (planCap != null) {
            int perChoice = planCap / choices;
            if (perChoice < 1) {
                throw OpenAiException.invalid(
                        "n",
                        "The request asks for " + choices + " choices; this plan allows " + planCap
                                + " output tokens per request, fewer than one per choice.");
            }
            if (cap == 0 || perChoice < cap) {
                cap = perChoice;
            }
        }
        return cap;
    }

    private static int tokenId(String key) {
        try {
            int id = Integer.parseInt(key);
            if (id >= 0) {
                return id;
            }
        } catch (NumberFormatException e) {
            // answered below
        }
        throw OpenAiException.invalid(
                "logit_bias", "Invalid key '" + key + "' in 'logit_bias': keys must be token ids (integers >= 0).");
    }

    private static List<String> stop(JsonNode stop) {
        if (stop == null || stop.isNull()) {
            return List.of();
        }
        if (stop.isTextual()) {
            return List.of(stop.asText());
        }
        String message = "'stop' must be a string or an array of up to 4 strings.";
        if (stop.isArray() && stop.size() <= 4) {
            return strings(stop, "stop", message);
        }
        throw OpenAiException.invalid("stop", message);
    }

    /** The items of a JSON array, each a string, or a 400 naming {@code param}. */
    private static List<String> strings(JsonNode array, String param, String message) {
        List<String> out = new ArrayList<>(array.size());
        for (JsonNode item : array) {
            if (!item.isTextual()) {
                throw OpenAiException.invalid(param, message);
            }
            out.add(item.asText());
        }
        return out;
    }

    private static ResponseFormat responseFormat(io.flatfare.gateway.api.dto.ResponseFormat f) {
        if (!"json_schema".equals(f.type())) {
            return format(f.type(), null, null, null);
        }
        if (f.jsonSchema() == null) {
            throw OpenAiException.invalid(
                    "response_format.json_schema",
                    "'response_format.json_schema' is required when the type is json_schema.");
        }
        if (!f.jsonSchema().schema().isObject()) {
            throw OpenAiException.invalid(
                    "response_format.json_schema.schema", "The JSON schema must be a JSON object.");
        }
        return format(
                f.type(),
                f.jsonSchema().name(),
                f.jsonSchema().schema(),
                f.jsonSchema().strict());
    }

    /** The engine's output format: {@code text}, {@code json_object}, or {@code json_schema} with its checked schema. */
    private static ResponseFormat format(String type, String name, JsonNode schema, Boolean strict) {
        return switch (type) {
            case "json_object" ->
                ResponseFormat.newBuilder()
                        .setType(ResponseFormat.Type.JSON_OBJECT)
                        .build();
            case "json_schema" ->
                ResponseFormat.newBuilder()
                        .setType(ResponseFormat.Type.JSON_SCHEMA)
                        .setSchemaName(name)
                        .setJsonSchema(schema.toString())
                        .setStrict(Boolean.TRUE.equals(strict))
                        .build();
            default ->
                ResponseFormat.newBuilder().setType(ResponseFormat.Type.TEXT).build();
        };
    }

    /** Message content: a string, or an array of text parts (other part types are not supported yet). */
    private static String content(JsonNode content, String param, boolean mayBeNull) {
        return content(content, param, mayBeNull, CHAT_TEXT_PARTS);
    }

    /** As {@link #content(JsonNode, String, boolean)}, with the part types that hold text in this API. */
    private static String content(JsonNode content, String param, boolean mayBeNull, Set<String> textParts) {
        if (content == null || content.isNull()) {
            if (mayBeNull) {
                return "";
            }
            throw OpenAiException.missing(param);
        }
        if (content.isTextual()) {
            return content.asText();
        }
        if (content.isArray()) {
            if (content.isEmpty()) {
                // As OpenAI: an array of parts has at least one (an empty message is "" or, for an assistant, null).
                throw OpenAiException.emptyArray(param);
            }
            StringBuilder text = new StringBuilder();
            for (int j = 0; j < content.size(); j++) {
                JsonNode part = content.get(j);
                String type = part.path("type").asText("");
                if (!textParts.contains(type)) {
                    throw OpenAiException.unsupported(
                            param + "[" + j + "].type",
                            "Content parts of type '" + type + "' are not supported yet; only text parts are.");
                }
                JsonNode partText = part.get("text");
                if (partText == null || !partText.isTextual()) {
                    throw OpenAiException.invalid(param + "[" + j + "].text", "A text part needs a string 'text'.");
                }
                text.append(partText.asText());
            }
            return text.toString();
        }
        throw OpenAiException.invalid(param, "'" + param + "' must be a string or an array of content parts.");
    }

    /** A string, or an array of 1 to {@code maxPrompts} strings; token ids are refused (see the README). */
    private static List<String> prompts(JsonNode prompt, int maxPrompts) {
        if (prompt.isTextual()) {
            return List.of(prompt.asText());
        }
        if (prompt.isArray() && !prompt.isEmpty()) {
            JsonNode first = prompt.get(0);
            if (first.isNumber() || first.isArray()) {
                throw OpenAiException.unsupported("prompt", "Prompts given as token ids are not supported; send text.");
            }
            if (prompt.size() > maxPrompts) {
                throw OpenAiException.invalid(
                        "prompt",
                        "'prompt' holds " + prompt.size() + " prompts; one request may hold at most " + maxPrompts
                                + ".");
            }
            return strings(prompt, "prompt", "'prompt' must be a string or an array of strings.");
        }
        throw OpenAiException.invalid("prompt", "'prompt' must be a string or a non-empty array of strings.");
    }

    private static void checkPromptSize(long chars, Plan plan, String param) {
        if (plan.maxPromptChars() != null && chars > plan.maxPromptChars()) {
            throw OpenAiException.invalid(
                    param,
                    "The prompt has " + chars + " characters; this plan allows at most " + plan.maxPromptChars() + ".",
                    "prompt_too_large");
        }
    }

    private static void unsupported(JsonNode value, String param, String message) {
        // Some clients send an empty list for "none"; that asks for nothing unsupported.
        if (value != null && !value.isNull() && !(value.isArray() && value.isEmpty())) {
            throw OpenAiException.unsupported(param, message);
        }
    }

    static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder()
                .setSeconds(instant.getEpochSecond())
                .setNanos(instant.getNano())
                .build();
    }
}
