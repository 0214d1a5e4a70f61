package io.flatfare.gateway;

import io.flatfare.testing.services.InferenceServer;
import io.flatfare.testing.services.RegistryServer;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

/**
 * The real upstream of the gateway: a model registry process (on its own PostgreSQL) and one inference-service
 * process serving the generated tiny model, registered with it. Shared by every test class that uses it in this
 * JVM, since starting them takes a while.
 */
public class InferencePlatformResource implements QuarkusTestResourceLifecycleManager {

    /**
     * The tiny model once more under a catalog entry with room for long generations (the default catalog caps
     * flatfare-tiny at 512 output tokens), so a test can tell a cancelled stream from a finished one.
     */
    public static final String LONG_MODEL = "flatfare-tiny-long";

    /** An alias of {@link #LONG_MODEL} in the style of Hugging Face names: with a slash. */
    public static final String LONG_MODEL_ALIAS = "flatfare/tiny-long";

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
            addLongModel(registry());
            inference = InferenceServer.builder(registry().port(), "gw-test-1")
                    .slots(2)
                    .queue(2)
                    .context(4096)
                    .property(
                            "flatfare.inference.models." + LONG_MODEL + ".path",
                            InferenceServer.tinyModel().toString())
                    .property("flatfare.inference.models." + LONG_MODEL + ".slots", "1")
                    .property("flatfare.inference.models." + LONG_MODEL + ".context", "8192")
                    .start();
        }
        return inference;
    }

    private static void addLongModel(RegistryServer registry) {
        String body = """
                {"id": "%s", "display_name": "Tiny, long context (tests)", "aliases": ["%s"], "owned_by": "flatfare",
                 "capabilities": ["chat", "completion"], "context_length": 8192, "max_output_tokens": 8192,
                 "price_tier": "small"}""".formatted(LONG_MODEL, LONG_MODEL_ALIAS);
        try {
            HttpResponse<String> response = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + registry.port() + "/admin/models"))
                                    .header("Authorization", "Bearer " + registry.adminToken())
                                    .header("Content-Type", "application/json")
                                    .POST(HttpRequest.BodyPublishers.ofString(body))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 201) {
                throw new IllegalStateException("Registry refused the test model: " + response.body());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
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
