package io.flatfare.gateway.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flatfare.contracts.events.Endpoint;
import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.inference.v1.ChatMessage;
import io.flatfare.contracts.inference.v1.EmbedRequest;
import io.flatfare.contracts.inference.v1.EmbedResponse;
import io.flatfare.contracts.inference.v1.Embedding;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.registry.v1.Capability;
import io.flatfare.gateway.account.Caller;
import io.flatfare.gateway.api.dto.ChatCompletionRequest;
import io.flatfare.gateway.api.dto.CompletionRequest;
import io.flatfare.gateway.api.dto.EmbeddingRequest;
import io.flatfare.gateway.api.dto.ResponseRequest;
import io.flatfare.gateway.api.dto.StreamOptions;
import io.flatfare.gateway.config.ApiConfig;
import io.flatfare.gateway.pricing.TierPrices;
import io.flatfare.gateway.responses.ResponseStore;
import io.flatfare.gateway.responses.StoredResponse;
import io.flatfare.gateway.responses.StoredResponse.Turn;
import io.flatfare.gateway.routing.InferenceRouter;
import io.flatfare.gateway.routing.ModelDirectory;
import io.flatfare.gateway.routing.ResolvedModel;
import io.flatfare.gateway.service.CallLifecycle;
import io.flatfare.gateway.service.ClientGoneException;
import io.flatfare.gateway.service.V1Call;
import io.flatfare.gateway.service.WouldBlock;
import io.smallrye.common.annotation.Blocking;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.RoutingContext;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.jboss.resteasy.reactive.RestMulti;

/**
 * The OpenAI-compatible API. Endpoints only read, check and map; the request's life (limits, usage event, metrics)
 * is {@link V1Guard}'s and {@link CallLifecycle}'s, and SSE framing is {@link Sse}'s. The body is read as bytes so
 * the API key is checked before it.
 */
@Path("/v1")
public class V1Resource {

    private final V1Calls calls;
    private final V1Guard guard;
    private final Bodies bodies;
    private final CallLifecycle lifecycle;
    private final InferenceRouter router;
    private final ModelDirectory models;
    private final ObjectMapper json;
    private final ApiConfig config;
    private final TierPrices prices;
    private final Answers answers;
    private final ResponseStore storedResponses;

    V1Resource(
            V1Calls calls,
            V1Guard guard,
            Bodies bodies,
            CallLifecycle lifecycle,
            InferenceRouter router,
            ModelDirectory models,
            ObjectMapper json,
            ApiConfig config,
            TierPrices prices,
            Answers answers,
            ResponseStore storedResponses) {
        this.calls = calls;
        this.guard = guard;
        this.bodies = bodies;
        this.lifecycle = lifecycle;
        this.router = router;
        this.models = models;
        this.json = json;
        this.config = config;
        this.prices = prices;
        this.answers = answers;
        this.storedResponses = storedResponses;
    }

    // One @Produces for every answer (Accept is normalised by V1Calls). Octet-stream makes the framework write each
    // frame as it is, without JSON-array or line framing; the real Content-Type, JSON or SSE, is set in generate().
    @POST
    @Path("/chat/completions")
    @Produces(MediaType.APPLICATION_OCTET_STREAM)
    @AdmitEarly
    public RestMulti<Buffer> chatCompletions(RoutingContext context, byte[] body) {
        V1Call call = calls.of(context);
        call.endpoint(Endpoint.CHAT_COMPLETIONS, false, 1);
        String authorization = authorization(context);
        return generate(context, call, () -> {
            Caller caller = guard.authenticate(call, authorization);
            ChatCompletionRequest r = bodies.read(body, ChatCompletionRequest.class);
            boolean stream = Boolean.TRUE.equals(r.stream());
            call.endpoint(Endpoint.CHAT_COMPLETIONS, stream, r.n() == null ? 1 : r.n());
            ResolvedModel model = guard.model(call, r.model(), Capability.CHAT);
            GenerateRequest request = GenerateRequests.chat(r, call, caller.plan(), model, deadline(call));
            checkStreamOptions(r.streamOptions(), stream);
            boolean includeUsage = includeUsage(r.streamOptions());
            return new Generation(List.of(request), () -> new Completions(json, ChoiceFormat.CHAT, call, includeUsage));
        });
    }

    @POST
    @Path("/completions")
    @Produces(MediaType.APPLICATION_OCTET_STREAM)
    @AdmitEarly
    public RestMulti<Buffer> completions(RoutingContext context, byte[] body) {
        V1Call call = calls.of(context);
        call.endpoint(Endpoint.COMPLETIONS, false, 1);
        String authorization = authorization(context);
        return generate(context, call, () -> {
            Caller caller = guard.authenticate(call, authorization);
            CompletionRequest r = bodies.read(body, CompletionRequest.class);
            boolean stream = Boolean.TRUE.equals(r.stream());
            call.endpoint(Endpoint.COMPLETIONS, stream, r.n() == null ? 1 : r.n());
            ResolvedModel model = guard.model(call, r.model(), Capability.COMPLETION);
            List<GenerateRequest> requests =
                    GenerateRequests.completion(r, call, caller.plan(), model, deadline(call), config.maxPrompts());
            // Several prompts: each has n choices, numbered prompt by prompt (PromptBatch).
            call.endpoint(Endpoint.COMPLETIONS, stream, (r.n() == null ? 1 : r.n()) * requests.size());
            checkStreamOptions(r.streamOptions(), stream);
            boolean includeUsage = includeUsage(r.streamOptions());
            return new Generation(requests, () -> new Completions(json, ChoiceFormat.TEXT, call, includeUsage));
        });
    }

    /**
     * The Responses API: one assistant message per response, JSON or typed SSE events. Stored unless the request says
     * {@code "store": false} (or storing is off), so it can be retrieved, and continued with {@code
     * previous_response_id}: the stored conversation goes to the model between the instructions and the new input.
     */
    @POST
    @Path("/responses")
    @Produces(MediaType.APPLICATION_OCTET_STREAM)
    @AdmitEarly
    public RestMulti<Buffer> responses(RoutingContext context, byte[] body) {
        V1Call call = calls.of(context);
        call.endpoint(Endpoint.RESPONSES, false, 1);
        String authorization = authorization(context);
        return generate(context, call, () -> {
            Caller caller = guard.authenticate(call, authorization);
            ResponseRequest r = bodies.read(body, ResponseRequest.class);
            call.endpoint(Endpoint.RESPONSES, Boolean.TRUE.equals(r.stream()), 1);
            List<Turn> earlier = List.of();
            if (r.previousResponseId() != null) {
                if (!storedResponses.enabled()) {
                    throw OpenAiException.unsupported(
                            "previous_response_id",
                            "Responses are not stored by this server: send the whole conversation in 'input'.");
                }
                WouldBlock.unlessBlockingAllowed();
                earlier = storedResponses
                        .find(caller.accountId(), r.previousResponseId())
                        .orElseThrow(() -> new OpenAiException(
                                404,
                                "invalid_request_error",
                                "Previous response with id '" + r.previousResponseId() + "' not found.",
                                "previous_response_id",
                                "previous_response_not_found"))
                        .context();
            }
            ResolvedModel model = guard.model(call, r.model(), Capability.CHAT);
            GenerateRequest request =
                    GenerateRequests.responses(r, earlier, call, caller.plan(), model, deadline(call));
            ResponsesAnswer.Storing storing = null;
            if (storedResponses.enabled() && !Boolean.FALSE.equals(r.store())) {
                List<ChatMessage> messages = request.getChat().getMessagesList();
                int own = (r.instructions() == null ? 0 : 1) + earlier.size();
                List<Turn> input = messages.subList(own, messages.size()).stream()
                        .map(m -> new Turn(m.getRole(), m.getContent()))
                        .toList();
                storing = new ResponsesAnswer.Storing(storedResponses, caller.accountId(), earlier, input);
            }
            ResponsesAnswer.Storing store = storing;
            return new Generation(List.of(request), () -> new ResponsesAnswer(json, call, r, store));
        });
    }

    /** A stored response of the caller's account, as it was answered. */
    @GET
    @Path("/responses/{id}")
    @Produces(MediaType.APPLICATION_JSON)
    @Blocking
    public ObjectNode getResponse(
            RoutingContext context, @PathParam("id") String id, @QueryParam("stream") String stream) {
        StoredResponse stored = storedResponse(context, id);
        // Asked of a stored answer, these would be ignored: refused instead (an SDK's stream would be silently empty).
        if (stream != null && !stream.equalsIgnoreCase("false")) {
            throw OpenAiException.unsupported(
                    "stream",
                    "Only responses created with background=true can be streamed when retrieved, and this server does"
                            + " not run background responses: retrieve it without 'stream'.");
        }
        if (context.queryParams().contains("include") || context.queryParams().contains("include[]")) {
            throw OpenAiException.unsupported(
                    "include", "'include' is not supported by this server: a stored response is returned whole.");
        }
        return stored.response();
    }

    /**
     * OpenAI cancels only responses created with {@code background=true}; this server runs none, so an existing
     * response is a 400 that says so (as OpenAI answers for a foreground one) and an unknown one a 404.
     */
    @POST
    @Path("/responses/{id}/cancel")
    @Produces(MediaType.APPLICATION_JSON)
    @Blocking
    public ObjectNode cancelResponse(RoutingContext context, @PathParam("id") String id) {
        storedResponse(context, id);
        throw new OpenAiException(
                400,
                "invalid_request_error",
                "Only responses created with background=true can be cancelled, and this server does not run"
                        + " background responses.",
                null,
                null);
    }

    /** Deletes a stored response of the caller's account: it can no longer be retrieved or continued. */
    @DELETE
    @Path("/responses/{id}")
    @Produces(MediaType.APPLICATION_JSON)
    @Blocking
    public ObjectNode deleteResponse(RoutingContext context, @PathParam("id") String id) {
        V1Call call = calls.of(context);
        Caller caller = guard.authenticate(call, authorization(context));
        if (!storedResponses.enabled() || !storedResponses.delete(caller.accountId(), id)) {
            throw responseNotFound(id);
        }
        ObjectNode deleted = json.createObjectNode();
        deleted.put("id", id);
        deleted.put("object", "response");
        deleted.put("deleted", true);
        return deleted;
    }

    /**
     * The input items of a stored response (its own, not those of the responses it continues), a page at a time:
     * {@code order} {@code desc} (the default) or {@code asc}, {@code limit} 1–100 (default 20), {@code after} an
     * item id.
     */
    @GET
    @Path("/responses/{id}/input_items")
    @Produces(MediaType.APPLICATION_JSON)
    @Blocking
    public ObjectNode responseInputItems(
            RoutingContext context,
            @PathParam("id") String id,
            @QueryParam("limit") String limit,
            @QueryParam("order") String order,
            @QueryParam("after") String after) {
        StoredResponse stored = storedResponse(context, id);
        int size = 20;
        if (limit != null) {
            try {
                size = Integer.parseInt(limit);
            } catch (NumberFormatException e) {
                size = -1;
            }
            if (size < 1 || size > 100) {
                throw OpenAiException.invalid("limit", "Invalid value for 'limit': must be an integer from 1 to 100.");
            }
        }
        if (order != null && !order.equals("asc") && !order.equals("desc")) {
            throw OpenAiException.invalid("order", "Invalid value for 'order': must be 'asc' or 'desc'.");
        }
        List<JsonNode> items = new ArrayList<>();
        stored.inputItems().forEach(items::add);
        if (!"asc".equals(order)) {
            Collections.reverse(items);
        }
        int from = 0;
        if (after != null) {
            from = -1;
            for (int i = 0; i < items.size(); i++) {
                if (after.equals(items.get(i).path("id").asText())) {
                    from = i + 1;
                }
            }
            if (from < 0) {
                throw OpenAiException.invalid("after", "No input item with id '" + after + "' in this response.");
            }
        }
        List<JsonNode> page = items.subList(from, Math.min(items.size(), from + size));
        ObjectNode root = json.createObjectNode();
        root.put("object", "list");
        root.putArray("data").addAll(page);
        root.put("first_id", page.isEmpty() ? null : page.getFirst().path("id").asText());
        root.put("last_id", page.isEmpty() ? null : page.getLast().path("id").asText());
        root.put("has_more", from + page.size() < items.size());
        return root;
    }

    private StoredResponse storedResponse(RoutingContext context, String id) {
        V1Call call = calls.of(context);
        Caller caller = guard.authenticate(call, authorization(context));
        if (!storedResponses.enabled()) {
            throw responseNotFound(id);
        }
        return storedResponses.find(caller.accountId(), id).orElseThrow(() -> responseNotFound(id));
    }

    private OpenAiException responseNotFound(String id) {
        String why = storedResponses.enabled() ? "" : " (responses are not stored by this server)";
        return new OpenAiException(
                404, "invalid_request_error", "No response found with id '" + id + "'" + why + ".", "id", "not_found");
    }

    @POST
    @Path("/embeddings")
    @Produces(MediaType.APPLICATION_JSON)
    @Blocking
    public Uni<Response> embeddings(RoutingContext context, byte[] body) {
        V1Call call = calls.of(context);
        call.endpoint(Endpoint.EMBEDDINGS, false, 1);
        EmbeddingRequest r;
        ResolvedModel model;
        EmbedRequest request;
        try {
            Caller caller = guard.authenticate(call, authorization(context));
            r = bodies.read(body, EmbeddingRequest.class);
            model = guard.model(call, r.model(), Capability.EMBEDDINGS);
            List<String> inputs = embeddingInputs(r.input(), caller);
            EmbedRequest.Builder builder = EmbedRequest.newBuilder()
                    .setRequestId(call.eventId())
                    .setModel(model.id())
                    .addAllInputs(inputs)
                    .setDeadline(GenerateRequests.timestamp(deadline(call)));
            if (r.dimensions() != null) {
                builder.setDimensions(r.dimensions());
            }
            request = builder.build();
            guard.admit(call);
        } catch (RuntimeException e) {
            throw guard.fail(call, e, false);
        }
        lifecycle.inferenceStarted(call);
        boolean base64 = "base64".equals(r.encodingFormat());
        Uni<EmbedResponse> answer = router.embed(model, request, deadline(call), call::instanceId);
        return Uni.createFrom()
                .<EmbedResponse>emitter(emitter -> {
                    var subscription = answer.subscribe().with(emitter::complete, emitter::fail);
                    call.onClientGone(() -> {
                        subscription.cancel();
                        emitter.fail(new ClientGoneException());
                    });
                })
                .map(result -> {
                    call.firstOutput();
                    call.usage(result.getUsage().getPromptTokens(), 0, null);
                    byte[] out = embeddingsJson(result, model, base64);
                    lifecycle.finish(call, Outcome.COMPLETED, 200, true);
                    Response.ResponseBuilder response = Response.ok(out).type(MediaType.APPLICATION_JSON_TYPE);
                    successHeaders(call).forEach(response::header);
                    return response.build();
                })
                .onFailure()
                .transform(t -> guard.fail(call, t, true));
    }

    @GET
    @Path("/models")
    @Produces(MediaType.APPLICATION_JSON)
    @Blocking
    public ObjectNode listModels(RoutingContext context) {
        V1Call call = calls.of(context);
        Caller caller = guard.authenticate(call, authorization(context));
        ObjectNode root = json.createObjectNode();
        root.put("object", "list");
        ArrayNode data = root.putArray("data");
        models.list().stream()
                .filter(m -> caller.plan().allows(m.id(), m.priceTier()))
                .sorted(Comparator.comparing(ResolvedModel::id))
                .forEach(m -> model(data.addObject(), m));
        return root;
    }

    @GET
    @Path("/models/{model: .+}") // aliases may hold a slash ("org/name"), sent plain or as %2F
    @Produces(MediaType.APPLICATION_JSON)
    @Blocking
    public ObjectNode getModel(RoutingContext context, @PathParam("model") String name) {
        V1Call call = calls.of(context);
        Caller caller = guard.authenticate(call, authorization(context));
        ResolvedModel model = models.resolve(name)
                .filter(m -> caller.plan().allows(m.id(), m.priceTier()))
                .orElseThrow(() -> OpenAiException.modelNotFound(name));
        return model(json.createObjectNode(), model);
    }

    /**
     * What a generating endpoint asks of the inference service, once the request has passed every check, and how
     * it writes the answer.
     */
    private record Generation(List<GenerateRequest> requests, Supplier<AnswerWriter> writer) {}

    /**
     * Checks the request, admits it and streams its answer, without blocking the event loop: the checks run on it
     * (they answer from caches) unless one would wait for I/O, then on a worker thread; the admission is a Redis
     * call whose answer continues on the event loop. Nothing is written before the first frame, so a failure before
     * it (a check, a limit, no instance, model at capacity, invalid for the engine) still gets its own HTTP status
     * through the error mapper; a failure after it ends the stream with an SSE error event. The whole JSON answer
     * of a non-streamed call is one frame.
     */
    private RestMulti<Buffer> generate(RoutingContext context, V1Call call, Supplier<Generation> checks) {
        Uni<Generation> admitted = offEventLoopIfNeeded(checks)
                .call(generation -> guard.admitting(call))
                .onFailure()
                .transform(failure -> guard.fail(call, failure, false))
                .onCancellation()
                .invoke(() -> lifecycle.finish(call, Outcome.CLIENT_CANCELLED, 499, false));
        // No frame for a client whose connection is closed; the framework cancels an answer it failed to write to a
        // client that left: V1Calls releases its exchange in both cases.
        return RestMulti.fromUniResponse(
                admitted,
                generation -> calls.whileConnected(context, answer(call, generation))
                        .onCancellation()
                        .invoke(() -> calls.answerAbandoned(context)),
                generation -> {
                    Map<String, List<String>> headers = new LinkedHashMap<>();
                    headers.put("content-type", List.of(call.stream() ? Sse.CONTENT_TYPE : MediaType.APPLICATION_JSON));
                    if (call.stream()) {
                        headers.put("cache-control", List.of("no-cache"));
                    }
                    successHeaders(call).forEach((name, value) -> headers.put(name, List.of(value)));
                    return headers;
                });
    }

    /** {@code step} here, or on a worker thread when it would wait for I/O on this event loop. */
    private static <T> Uni<T> offEventLoopIfNeeded(Supplier<T> step) {
        try {
            return Uni.createFrom().item(step.get());
        } catch (WouldBlock e) {
            Context context = Vertx.currentContext();
            // The result comes back on this context's event loop, where the request continues.
            return Uni.createFrom()
                    .completionStage(
                            () -> context.executeBlocking(step::get, false).toCompletionStage());
        } catch (RuntimeException e) {
            return Uni.createFrom().failure(e);
        }
    }

    private Multi<Buffer> answer(V1Call call, Generation generation) {
        lifecycle.inferenceStarted(call);
        AnswerWriter out = generation.writer().get();
        List<Multi<GenerateResponse>> calls =
                new ArrayList<>(generation.requests().size());
        for (GenerateRequest request : generation.requests()) {
            calls.add(router.generate(call.model(), request, deadline(call), call::instanceId));
        }
        Multi<GenerateResponse> events = PromptBatch.sequence(
                calls, generation.requests().getFirst().getSampling().getN());
        return call.stream() ? answers.stream(call, out, events) : answers.collect(call, out, events);
    }

    /** Rate-limit state and the request's flat price (tier and amount), known before any compute. */
    private Map<String, String> successHeaders(V1Call call) {
        Map<String, String> headers = new LinkedHashMap<>();
        if (call.admission() != null) {
            call.admission().rate().ifPresent(rate -> RateLimitHeaders.put(rate, headers));
        }
        if (call.model() != null) {
            headers.put("x-flatfare-price-tier", call.model().priceTier());
            prices.at(call.model().priceTier(), call.receivedAt()).ifPresent(price -> {
                headers.put("x-flatfare-price-micros", Long.toString(price.micros()));
                headers.put("x-flatfare-price-currency", price.currency());
            });
        }
        return headers;
    }

    private byte[] embeddingsJson(EmbedResponse result, ResolvedModel model, boolean base64) {
        ObjectNode root = json.createObjectNode();
        root.put("object", "list");
        ArrayNode data = root.putArray("data");
        for (Embedding embedding : result.getEmbeddingsList()) {
            ObjectNode item = data.addObject();
            item.put("object", "embedding");
            item.put("index", embedding.getIndex());
            if (base64) {
                // OpenAI's base64 format: the float32 values, little-endian, base64-encoded.
                ByteBuffer bytes =
                        ByteBuffer.allocate(embedding.getValuesCount() * 4).order(ByteOrder.LITTLE_ENDIAN);
                embedding.getValuesList().forEach(bytes::putFloat);
                item.put("embedding", Base64.getEncoder().encodeToString(bytes.array()));
            } else {
                ArrayNode values = item.putArray("embedding");
                embedding.getValuesList().forEach(values::add);
            }
        }
        root.put("model", model.id());
        ObjectNode usage = root.putObject("usage");
        usage.put("prompt_tokens", result.getUsage().getPromptTokens());
        usage.put("total_tokens", result.getUsage().getPromptTokens());
        try {
            return json.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private List<String> embeddingInputs(JsonNode input, Caller caller) {
        List<String> inputs = new ArrayList<>();
        if (input.isTextual()) {
            inputs.add(input.asText());
        } else if (input.isArray() && !input.isEmpty()) {
            for (JsonNode item : input) {
                if (item.isNumber() || item.isArray()) {
                    throw OpenAiException.unsupported(
                            "input", "Inputs given as token ids are not supported; send text.");
                }
                if (!item.isTextual()) {
                    throw OpenAiException.invalid("input", "'input' must be a string or an array of strings.");
                }
                inputs.add(item.asText());
            }
        } else {
            throw OpenAiException.invalid("input", "'input' must be a non-empty string or array of strings.");
        }
        if (inputs.size() > config.maxEmbeddingInputs()) {
            throw OpenAiException.invalid(
                    "input", "'input' has " + inputs.size() + " items; at most " + config.maxEmbeddingInputs() + ".");
        }
        long chars = inputs.stream().mapToLong(String::length).sum();
        Integer limit = caller.plan().maxPromptChars();
        if (limit != null && chars > limit) {
            throw OpenAiException.invalid(
                    "input",
                    "The input has " + chars + " characters; this plan allows at most " + limit + ".",
                    "prompt_too_large");
        }
        for (int i = 0; i < inputs.size(); i++) {
            if (inputs.get(i).isEmpty()) {
                throw OpenAiException.invalid("input", "'input' must not contain empty strings.");
            }
        }
        return inputs;
    }

    private ObjectNode model(ObjectNode node, ResolvedModel model) {
        node.put("id", model.id());
        node.put("object", "model");
        node.put("created", model.created() == null ? 0 : model.created().getEpochSecond());
        node.put("owned_by", model.ownedBy());
        ArrayNode aliases = node.putArray("aliases");
        model.aliases().forEach(aliases::add);
        ArrayNode capabilities = node.putArray("capabilities");
        model.capabilities().stream()
                .map(c -> c.name().toLowerCase(java.util.Locale.ROOT))
                .sorted()
                .forEach(capabilities::add);
        node.put("context_length", model.contextLength());
        node.put("price_tier", model.priceTier());
        node.put("ready_instances", model.readyInstances());
        return node;
    }

    private static void checkStreamOptions(StreamOptions options, boolean stream) {
        if (options != null && !stream) {
            throw OpenAiException.invalid("stream_options", "'stream_options' is only allowed when 'stream' is true.");
        }
    }

    private static boolean includeUsage(StreamOptions options) {
        return options != null && Boolean.TRUE.equals(options.includeUsage());
    }

    private Instant deadline(V1Call call) {
        return call.receivedAt().plus(config.requestTimeout());
    }

    private static String authorization(RoutingContext context) {
        return context.request().getHeader("Authorization");
    }
}
