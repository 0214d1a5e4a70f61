package io.flatfare.inference.api;

import io.flatfare.contracts.inference.v1.ChatInput;
import io.flatfare.contracts.inference.v1.ChatMessage;
import io.flatfare.contracts.inference.v1.EmbedRequest;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.InferenceServiceGrpc;
import io.flatfare.contracts.inference.v1.InfoRequest;
import io.flatfare.contracts.inference.v1.SamplingParams;
import io.flatfare.inference.config.InferenceConfig;
import io.flatfare.inference.config.InstanceIdentity;
import io.flatfare.inference.service.ResidentModel;
import io.flatfare.inference.service.ResidentModels;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.quarkus.logging.Log;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.concurrent.TimeUnit;

/**
 * The engine's own warm-up makes the model fast; this one makes the service fast: before the instance reports ready,
 * it calls itself over gRPC as a client would, once per model and kind of call ({@code Info}; {@code Generate} with
 * chat messages and with a prompt, or {@code Embed}), so that the first real call does not pay for loading and
 * linking the server's call path (about a hundred milliseconds on a cold JVM). These calls count in the metrics like
 * any others; their request ids start with {@code warm-up-}.
 */
@ApplicationScoped
public class ServiceWarmUp {

    private static final int DEADLINE_SECONDS = 60;

    private final InferenceConfig config;

    ServiceWarmUp(InferenceConfig config) {
        this.config = config;
    }

    void onWarming(@Observes ResidentModels.Warming warming) {
        int port = InstanceIdentity.boundPort();
        if (!config.serviceWarmUp() || port <= 0) {
            return;
        }
        long start = System.nanoTime();
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port)
                .usePlaintext()
                .build();
        try {
            var stub = InferenceServiceGrpc.newBlockingStub(channel);
            call(() ->
                    stub.withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS).info(InfoRequest.getDefaultInstance()));
            for (ResidentModel model : warming.models()) {
                if (model.settings().embeddings()) {
                    call(() -> stub.withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS)
                            .embed(EmbedRequest.newBuilder()
                                    .setRequestId(requestId(model, "embed"))
                                    .setModel(model.id())
                                    .addInputs("Hello")
                                    .build()));
                    continue;
                }
                var chat = GenerateRequest.newBuilder()
                        .setRequestId(requestId(model, "chat"))
                        .setModel(model.id())
                        .setChat(ChatInput.newBuilder()
                                .addMessages(
                                        ChatMessage.newBuilder().setRole("user").setContent("Hello")))
                        .setSampling(SamplingParams.newBuilder().setMaxTokens(2))
                        .build();
                var prompt = chat.toBuilder()
                        .setRequestId(requestId(model, "prompt"))
                        .setPrompt("Hello")
                        .build();
                for (GenerateRequest request : new GenerateRequest[] {chat, prompt}) {
                    call(() -> stub.withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS)
                            .generate(request)
                            .forEachRemaining(response -> {}));
                }
            }
            Log.infof(
                    "Warmed up the gRPC service through %d model(s) in %d ms",
                    warming.models().size(), (System.nanoTime() - start) / 1_000_000);
        } finally {
            channel.shutdownNow();
        }
    }

    private static String requestId(ResidentModel model, String kind) {
        return "warm-up-" + kind + "-" + model.id();
    }

    /** A failed warm-up call is not a failed start-up: the engine is warm, and a real call will report the problem. */
    private static void call(Runnable call) {
        try {
            call.run();
        } catch (StatusRuntimeException e) {
            Log.warnf("A warm-up call to this instance failed: %s", e.getStatus());
        }
    }
}
