package io.flatfare.gateway.routing;

import io.flatfare.contracts.registry.v1.HeartbeatRequest;
import io.flatfare.contracts.registry.v1.InstanceState;
import io.flatfare.contracts.registry.v1.ModelRegistryGrpc;
import io.flatfare.contracts.registry.v1.RegisterRequest;
import io.flatfare.testing.services.RegistryServer;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * The real model registry process shared by the plain routing tests of this JVM (started on first use, stopped by
 * its shutdown hook), and the calls a test makes to set it up: models through the admin API, instances through
 * gRPC. Each test creates its own models, so tests never see each other's instances.
 */
final class TestRegistry {

    /** Long enough that no test waits on heartbeats. */
    private static final Duration INSTANCE_TTL = Duration.ofSeconds(120);

    private static TestRegistry shared;

    private final RegistryServer server;
    private final ManagedChannel channel;
    private final HttpClient http = HttpClient.newHttpClient();

    private TestRegistry(RegistryServer server) {
        this.server = server;
        this.channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port())
                .usePlaintext()
                .build();
    }

    static synchronized TestRegistry shared() {
        if (shared == null) {
            shared = new TestRegistry(RegistryServer.start(INSTANCE_TTL));
        }
        return shared;
    }

    int port() {
        return server.port();
    }

    /** A client stub for the directory under test. */
    ModelRegistryGrpc.ModelRegistryBlockingStub stub() {
        return ModelRegistryGrpc.newBlockingStub(channel);
    }

    /** Creates an active chat model with a fresh id starting with {@code prefix}; returns the id. */
    String createModel(String prefix, String... aliases) {
        String id = prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
        var aliasJson = new StringBuilder();
        for (String alias : aliases) {
            aliasJson
                    .append(aliasJson.isEmpty() ? "" : ",")
                    .append('"')
                    .append(alias)
                    .append('"');
        }
        String body = """
                {"id":"%s","display_name":"Routing test model","aliases":[%s],"owned_by":"flatfare-test",
                 "capabilities":["chat","completion"],"context_length":2048,"max_output_tokens":256,
                 "price_tier":"small"}""".formatted(id, aliasJson);
        var request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port() + "/admin/models"))
                .header("Authorization", "Bearer " + server.adminToken())
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        try {
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 201) {
                throw new IllegalStateException("Creating model " + id + " failed: " + response.body());
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        return id;
    }

    void register(String instanceId, String address, String model) {
        register(RegisterRequest.newBuilder()
                .setInstanceId(instanceId)
                .setGrpcAddress(address)
                .addModels(model));
    }

    /** As {@link #register(String, String, String)}, the instance serving the model with {@code context} tokens. */
    void register(String instanceId, String address, String model, int context) {
        register(RegisterRequest.newBuilder()
                .setInstanceId(instanceId)
                .setGrpcAddress(address)
                .addModels(model)
                .putContextLengths(model, context));
    }

    private void register(RegisterRequest.Builder request) {
        stub().withDeadlineAfter(10, TimeUnit.SECONDS)
                .register(request.setSlots(4).setState(InstanceState.READY).build());
    }

    /** The instance announces DRAINING, as inference does on graceful shutdown. */
    void drain(String instanceId) {
        stub().withDeadlineAfter(10, TimeUnit.SECONDS)
                .heartbeat(HeartbeatRequest.newBuilder()
                        .setInstanceId(instanceId)
                        .setState(InstanceState.DRAINING)
                        .build());
    }
}
