package io.flatfare.gateway.routing;

import io.flatfare.testing.services.RegistryServer;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.time.Duration;
import java.util.Map;

/**
 * Gives a {@code @QuarkusTest} of the gateway a real model registry process (default catalog, no instances):
 * {@code @WithTestResource(RegistryTestResource.class)}. Sets {@code quarkus.grpc.clients.registry.host},
 * {@code .port} and {@code .test-port}; tests register instances through that address.
 */
public class RegistryTestResource implements QuarkusTestResourceLifecycleManager {

    /** Long enough that tests need not send heartbeats. */
    private static final Duration INSTANCE_TTL = Duration.ofSeconds(120);

    private RegistryServer server;

    @Override
    public Map<String, String> start() {
        server = RegistryServer.start(INSTANCE_TTL);
        String port = String.valueOf(server.port());
        // In test mode Quarkus dials a gRPC client's test-port, not its port.
        return Map.of(
                "quarkus.grpc.clients.registry.host", "127.0.0.1",
                "quarkus.grpc.clients.registry.port", port,
                "quarkus.grpc.clients.registry.test-port", port);
    }

    @Override
    public void stop() {
        if (server != null) {
            server.close();
            server = null;
        }
    }
}
