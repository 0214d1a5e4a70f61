package io.flatfare.gateway;

import io.flatfare.testing.services.InferenceServer;
import io.flatfare.testing.services.RegistryServer;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.time.Duration;
import java.util.Map;

/**
 * The real upstream of the gateway: a model registry process (on its own PostgreSQL) and one inference-service
 * process serving the generated tiny model, registered with it. Shared by every test class that uses it in this
 * JVM, since starting them takes a while.
 */
public class InferencePlatformResource implements QuarkusTestResourceLifecycleManager {

    private static RegistryServer registry;
    private static InferenceServer inference;

    public static synchronized RegistryServer registry() {
        if (registry == null) {
            registry = RegistryServer.start(Duration.ofSeconds(10));
            Runtime.getRuntime().addShutdownHook(new Thread(InferencePlatformResource::closeAll));
        }
        return registry;
    }

    public static synchronized InferenceServer inference() {
        if (inference == null) {
            inference = InferenceServer.builder(registry().port(), "gw-test-1")
                    .slots(2)
                    .queue(2)
                    // Room for a long generation, so a test can tell a cancelled stream from a finished one.
                    .context(8192)
                    .start();
        }
        return inference;
    }

    private static synchronized void closeAll() {
        if (inference != null) {
            inference.close();
        }
        if (registry != null) {
            registry.close();
        }
    }

    @Override
    public Map<String, String> start() {
        inference();
        // In test mode Quarkus dials a gRPC client's test-port, not its port.
        String port = String.valueOf(registry().port());
        return Map.of(
                "quarkus.grpc.clients.registry.host", "127.0.0.1",
                "quarkus.grpc.clients.registry.port", port,
                "quarkus.grpc.clients.registry.test-port", port);
    }

    @Override
    public void stop() {
        // Kept for the other test classes of this JVM; the shutdown hook stops both processes.
    }
}
