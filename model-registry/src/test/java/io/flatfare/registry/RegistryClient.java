package io.flatfare.registry;

import io.flatfare.contracts.registry.v1.ModelRegistryGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.ConfigProvider;

/** A plaintext gRPC channel to the registry under test (served on its HTTP test port). */
final class RegistryClient implements AutoCloseable {

    private final ManagedChannel channel;
    private final ModelRegistryGrpc.ModelRegistryBlockingStub registry;

    private RegistryClient(ManagedChannel channel) {
        this.channel = channel;
        this.registry = ModelRegistryGrpc.newBlockingStub(channel);
    }

    static RegistryClient connect() {
        int port = ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class);
        return new RegistryClient(ManagedChannelBuilder.forAddress("127.0.0.1", port)
                .usePlaintext()
                .build());
    }

    ManagedChannel channel() {
        return channel;
    }

    /** The registry's stub with a deadline for one call. */
    ModelRegistryGrpc.ModelRegistryBlockingStub rpc() {
        return registry.withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
