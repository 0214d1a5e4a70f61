package io.flatfare.inference.api;

import io.flatfare.contracts.inference.v1.EmbedRequest;
import io.flatfare.contracts.inference.v1.EmbedResponse;
import io.flatfare.contracts.inference.v1.Embedding;
import io.flatfare.contracts.inference.v1.GenerateDone;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.inference.v1.InferenceService;
import io.flatfare.contracts.inference.v1.InfoRequest;
import io.flatfare.contracts.inference.v1.InfoResponse;
import io.flatfare.contracts.inference.v1.ModelStatus;
import io.flatfare.contracts.inference.v1.Usage;
import io.flatfare.inference.config.InferenceConfig;
import io.flatfare.inference.config.InstanceIdentity;
import io.flatfare.inference.engine.CancellationSignal;
import io.flatfare.inference.engine.DeadlineExceededException;
import io.flatfare.inference.engine.GenerationResult;
import io.flatfare.inference.engine.InvalidRequestException;
import io.flatfare.inference.engine.PreparedGeneration;
import io.flatfare.inference.engine.TokenizerCost;
import io.flatfare.inference.service.ResidentModel;
import io.flatfare.inference.service.ResidentModels;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import java.time.Instant;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * gRPC face of the resident models. Requests are validated before admission (a bad request never waits for
 * a slot), admitted into a slot or the bounded queue (else RESOURCE_EXHAUSTED at once), and generated on the
 * model's slot threads. A cancelled call or a passed deadline stops generation within one token.
 */
@GrpcService
public class InferenceGrpcService implements InferenceService {

    /**
     * Prompts over this many characters are tokenized on a worker thread whatever the model's tokenizer costs; shorter
     * ones on the call's event loop when the model tokenizes them within {@code event-loop-tokenize-micros}.
     */
    static final int EVENT_LOOP_PROMPT_CHARS = 4_096;

    /**
     * What a chat message counts for beyond its content: the chat template's text around it (role markers and
     * separators, some 10 to 30 characters in common templates), which is rendered and tokenized with it. Without
     * it, a conversation of many empty messages counted 0 characters and was rendered on the event loop: 100,000 of
     * them held it for seconds.
     */
    static final int MESSAGE_TEMPLATE_CHARS = 32;

    private final ResidentModels models;
    private final InferenceConfig config;
    private final InstanceIdentity identity;

    InferenceGrpcService(ResidentModels models, InferenceConfig config, InstanceIdentity identity) {
        this.models = models;
        this.config = config;
        this.identity = identity;
    }

    @Override
    public Multi<GenerateResponse> generate(GenerateRequest request) {
        return Multi.createFrom().emitter(emitter -> {
            Context eventLoop = Vertx.currentContext();
            if (eventLoop != null && !preparesOnEventLoop(request)) {
                // Tokenizing a long prompt (or any prompt, with some tokenizers) takes milliseconds to seconds; the
                // event loop carries every other call of the same connection (a gateway's calls share one), so it
                // must not wait for it.
                eventLoop.executeBlocking(
                        () -> {
                            start(request, emitter, eventLoop);
                            return null;
                        },
                        false);
            } else {
                start(request, emitter, eventLoop);
            }
        });
    }

    /** Validates, tokenizes and admits the call, then hands it to a slot thread. */
    private void start(GenerateRequest request, MultiEmitter<? super GenerateResponse> emitter, Context eventLoop) {
        try {
            ResidentModel model = models.admitting(request.getModel());
            PreparedGeneration prepared = model.engine().prepare(WireMapping.toEngine(request));
            var sink = new CoalescingSink(
                    emitter,
                    eventLoop,
                    config.streamInterval(),
                    model.engine().info().fingerprint());
            var cancelled = new AtomicBoolean();
            var work = new AtomicReference<Future<?>>();
            emitter.onTermination(() -> cancel(model, cancelled, work));
            if (emitter.isCancelled()) {
                cancelled.set(true); // gone while the prompt was prepared
            }
            long enqueued = System.nanoTime();
            work.set(model.submit(() -> {
                run(model, prepared, sink, cancelled, enqueued);
                return null;
            }));
            if (cancelled.get()) {
                model.withdraw(work.get());
            }
        } catch (RuntimeException e) {
            emitter.fail(GrpcErrors.toStatus(e, config.retryAfter()));
        }
    }

    private boolean preparesOnEventLoop(GenerateRequest request) {
        TokenizerCost cost = models.find(request.getModel())
                .flatMap(ResidentModel::tokenizerCost)
                .orElse(null);
        // An unknown model, or one still loading, is refused at once, wherever.
        return cost == null || preparesOnEventLoop(request, cost, config.eventLoopTokenizeMicros() * 1_000);
    }

    /** Whether tokenizing the call's prompt takes the event loop at most {@code budgetNanos}, as {@code cost} predicts. */
    static boolean preparesOnEventLoop(GenerateRequest request, TokenizerCost cost, long budgetNanos) {
        long chars = promptChars(request);
        return chars <= EVENT_LOOP_PROMPT_CHARS && cost.nanos(promptFragments(request), chars) <= budgetNanos;
    }

    /**
     * Pieces llama.cpp tokenizes one by one, about: it splits a text at each special token, and a chat template puts
     * one before and one after each message (ChatML's {@code <|im_start|>} and {@code <|im_end|>}), plus the reply's.
     */
    static long promptFragments(GenerateRequest request) {
        return request.hasChat() ? 2L * request.getChat().getMessagesCount() + 1 : 1;
    }

    /**
     * Characters of prompt text the call will tokenize, about: a plain prompt, or every chat message's content and
     * its share of the template.
     */
    static long promptChars(GenerateRequest request) {
        long chars = request.getPrompt().length();
        for (var message : request.getChat().getMessagesList()) {
            chars += message.getContent().length() + MESSAGE_TEMPLATE_CHARS;
        }
        return chars;
    }

    private void run(
            ResidentModel model,
            PreparedGeneration prepared,
            CoalescingSink sink,
            AtomicBoolean cancelled,
            long enqueued) {
        long started = System.nanoTime();
        model.recordQueued(started - enqueued);
        Instant deadline = prepared.request().deadline();
        CancellationSignal stop = () -> cancelled.get() || passed(deadline);
        if (cancelled.get()) {
            return;
        }
        try {
            if (stop.isCancelled()) {
                throw deadlinePassed();
            }
            GenerationResult result = model.engine().stream(prepared, sink, stop);
            if (result.cancelled()) {
                if (!cancelled.get()) {
                    fail(sink, deadlinePassed());
                }
                return;
            }
            model.recordGenerated(result, System.nanoTime() - started);
            var done = GenerateResponse.newBuilder()
                    .setDone(GenerateDone.newBuilder()
                            .setUsage(Usage.newBuilder()
                                    .setPromptTokens(result.promptTokens())
                                    .setCompletionTokens(result.completionTokens())
                                    .setTotalTokens(result.totalTokens()))
                            .setSystemFingerprint(model.engine().info().fingerprint())
                            .setTimeToFirstTokenMicros(result.timeToFirstTokenNanos() / 1_000)
                            .setQueueMicros((started - enqueued) / 1_000))
                    .build();
            sink.end(out -> {
                out.emit(done);
                out.complete();
            });
        } catch (RuntimeException e) {
            if (!cancelled.get()) {
                fail(sink, e);
            }
        }
    }

    /** Fails the call after the text already generated has been sent. */
    private void fail(CoalescingSink sink, RuntimeException e) {
        var status = GrpcErrors.toStatus(e, config.retryAfter());
        sink.end(out -> out.fail(status));
    }

    @Override
    public Uni<EmbedResponse> embed(EmbedRequest request) {
        return Uni.createFrom().emitter(emitter -> {
            try {
                ResidentModel model = models.admitting(request.getModel());
                if (request.getInputsCount() == 0) {
                    throw new InvalidRequestException("input", "At least one input is required.");
                }
                Instant deadline = request.hasDeadline() ? WireMapping.deadline(request.getDeadline()) : null;
                if (passed(deadline)) {
                    throw deadlinePassed();
                }
                var cancelled = new AtomicBoolean();
                var work = new AtomicReference<Future<?>>();
                emitter.onTermination(() -> cancel(model, cancelled, work));
                work.set(model.submit(() -> {
                    if (cancelled.get()) {
                        return null;
                    }
                    try {
                        if (passed(deadline)) {
                            throw deadlinePassed(); // waited in the queue past it
                        }
                        var result =
                                model.engine().embed(request.getInputsList(), request.getDimensions(), cancelled::get);
                        var response = EmbedResponse.newBuilder()
                                .setUsage(Usage.newBuilder()
                                        .setPromptTokens(result.promptTokens())
                                        .setTotalTokens(result.promptTokens()));
                        for (int i = 0; i < result.vectors().size(); i++) {
                            var embedding = Embedding.newBuilder().setIndex(i);
                            for (float v : result.vectors().get(i)) {
                                embedding.addValues(v);
                            }
                            response.addEmbeddings(embedding);
                        }
                        emitter.complete(response.build());
                    } catch (RuntimeException e) {
                        if (!cancelled.get()) {
                            emitter.fail(GrpcErrors.toStatus(e, config.retryAfter()));
                        }
                    }
                    return null;
                }));
            } catch (RuntimeException e) {
                emitter.fail(GrpcErrors.toStatus(e, config.retryAfter()));
            }
        });
    }

    private static boolean passed(Instant deadline) {
        return deadline != null && !Instant.now().isBefore(deadline);
    }

    private static DeadlineExceededException deadlinePassed() {
        return new DeadlineExceededException("The request's deadline passed.", null);
    }

    /** The caller went away (or the call ended): stop generating, or give back the queue place. */
    private static void cancel(ResidentModel model, AtomicBoolean cancelled, AtomicReference<Future<?>> work) {
        cancelled.set(true);
        Future<?> queued = work.get();
        if (queued != null) {
            model.withdraw(queued);
        }
    }

    @Override
    public Uni<InfoResponse> info(InfoRequest request) {
        var response = InfoResponse.newBuilder().setInstanceId(identity.instanceId());
        for (ResidentModel model : models.models()) {
            var status = ModelStatus.newBuilder()
                    .setModel(model.id())
                    .setState(models.isDraining() ? "DRAINING" : model.state().name())
                    .setSlotsTotal(model.settings().slots())
                    .setSlotsBusy(model.busySlots())
                    .setQueueDepth(model.queueDepth())
                    .setQueueCapacity(model.queueCapacity())
                    .setContextLength(model.contextLength())
                    .setEmbeddings(model.settings().embeddings());
            if (model.engine() != null) {
                status.setGpuLayers(model.engine().info().gpuLayers());
            }
            response.addModels(status);
        }
        return Uni.createFrom().item(response.build());
    }
}
