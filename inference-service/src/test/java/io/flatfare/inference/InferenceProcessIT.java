package io.flatfare.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.inference.v1.InferenceServiceGrpc;
import io.flatfare.contracts.inference.v1.SamplingParams;
import io.flatfare.contracts.registry.v1.Instance;
import io.flatfare.contracts.registry.v1.ModelRegistryGrpc;
import io.flatfare.contracts.registry.v1.ResolveRequest;
import io.flatfare.testing.services.RegistryServer;
import io.flatfare.testing.services.ServiceProcess;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The packaged inference service as a real process: start-up failures exit non-zero naming the file, and a
 * real model registry (its own process on a real PostgreSQL) sees the instance register after warm-up,
 * heartbeat, and deregister on SIGTERM after in-flight streams drained.
 */
class InferenceProcessIT {

    static ServiceProcess.Builder inference(Path model) {
        return ServiceProcess.builder("inference-service", ServiceProcess.quarkusJar("inference-service"))
                .property("flatfare.inference.models.flatfare-tiny.path", model.toString())
                .property("flatfare.inference.models.flatfare-tiny.context", String.valueOf(TinyModelResource.CONTEXT))
                .property(
                        "flatfare.inference.native-extract-directory",
                        Path.of("target", "native").toAbsolutePath().toString());
    }

    @Test
    void aMissingModelFileStopsStartUpNamingTheFile() {
        Path missing = Path.of("target", "no-such-model.gguf").toAbsolutePath();
        try (var process = inference(missing)
                .property("flatfare.inference.registry.enabled", "false")
                .start()) {
            assertThat(process.awaitExit(Duration.ofSeconds(60))).isNotZero();
            assertThat(process.output()).contains(missing.toString());
        }
    }

    @Test
    void aCorruptModelFileStopsStartUpNamingTheFile() throws IOException {
        Path corrupt = Files.writeString(
                        Files.createDirectories(Path.of("target", "test-models"))
                                .resolve("corrupt.gguf"),
                        "this is not a GGUF file")
                .toAbsolutePath();
        try (var process = inference(corrupt)
                .property("flatfare.inference.registry.enabled", "false")
                .start()) {
            assertThat(process.awaitExit(Duration.ofSeconds(60))).isNotZero();
            assertThat(process.output()).contains(corrupt.toString());
        }
    }

    @Test
    void registersHeartbeatsDrainsAndDeregisters() throws Exception {
        Duration ttl = Duration.ofSeconds(6);
        try (var registry = RegistryServer.start(ttl)) {
            ManagedChannel registryChannel = ManagedChannelBuilder.forAddress("127.0.0.1", registry.port())
                    .usePlaintext()
                    .build();
            var resolve = ModelRegistryGrpc.newBlockingStub(registryChannel);
            try (var process = inference(TinyModelResource.generate())
                    // Twice what the model was trained for: it is served, and registered, with the trained context.
                    .property(
                            "flatfare.inference.models.flatfare-tiny.context",
                            String.valueOf(TinyModelResource.CONTEXT * 2))
                    .property("quarkus.grpc.clients.registry.host", "127.0.0.1")
                    .property("quarkus.grpc.clients.registry.port", String.valueOf(registry.port()))
                    .property("flatfare.inference.instance-id", "it-instance-1")
                    .start()) {
                process.awaitReady(Duration.ofSeconds(90));
                String address = "127.0.0.1:" + process.port();

                // Registered after warm-up, at its address, for its model.
                await().atMost(Duration.ofSeconds(30))
                        .until(() -> instance(resolve).isPresent());
                Instance first = instance(resolve).orElseThrow();
                assertThat(first.getGrpcAddress()).endsWith(":" + process.port());
                // With the context it serves the model with (the catalog's is 2048, the configured one 16384).
                assertThat(first.getContextLengthsMap()).isEqualTo(Map.of("flatfare-tiny", TinyModelResource.CONTEXT));
                long registeredAt = first.getLastHeartbeat().getSeconds();

                // Heartbeats keep it routable past the TTL.
                await().atMost(ttl.multipliedBy(3))
                        .until(() -> instance(resolve)
                                .map(i -> i.getLastHeartbeat().getSeconds() >= registeredAt + ttl.toSeconds())
                                .orElse(false));

                // A stream that is running when SIGTERM arrives finishes; then the instance deregisters.
                ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", process.port())
                        .usePlaintext()
                        .build();
                var stream = InferenceServiceGrpc.newBlockingStub(channel)
                        .withDeadlineAfter(60, TimeUnit.SECONDS)
                        .generate(GenerateRequest.newBuilder()
                                .setRequestId("drain-1")
                                .setModel("flatfare-tiny")
                                .setPrompt("Go on")
                                .setSampling(SamplingParams.newBuilder()
                                        .setMaxTokens(6000)
                                        .setSeed(1)
                                        .putLogitBias(261, -100))
                                .build());
                List<GenerateResponse> received = new ArrayList<>();
                received.add(stream.next());
                process.terminate();
                stream.forEachRemaining(received::add);
                assertThat(received.getLast().hasDone()).isTrue();
                assertThat(received.getLast().getDone().getUsage().getCompletionTokens())
                        .isEqualTo(6000);

                assertThat(process.awaitExit(Duration.ofSeconds(60))).isIn(0, 143);
                // Gone at once, long before its TTL could have passed.
                assertThat(instance(resolve)).isEmpty();
                assertThat(process.output()).contains("Deregistered it-instance-1");
                channel.shutdownNow();
            } finally {
                registryChannel.shutdownNow();
            }
        }
    }

    private static Optional<Instance> instance(ModelRegistryGrpc.ModelRegistryBlockingStub registry) {
        return registry
                .withDeadlineAfter(5, TimeUnit.SECONDS)
                .resolve(ResolveRequest.newBuilder().setName("flatfare-tiny").build())
                .getInstancesList()
                .stream()
                .filter(i -> i.getId().equals("it-instance-1"))
                .findFirst();
    }
}
