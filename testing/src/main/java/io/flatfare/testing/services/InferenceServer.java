package io.flatfare.testing.services;

import io.flatfare.testing.support.Processes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real inference-service process serving the generated tiny model as {@code flatfare-tiny} (chat, completions)
 * and {@code flatfare-tiny-embed} (embeddings), registered with a model registry. The model is written once by the
 * service's own {@code TinyModelCli} into the calling module's {@code target/test-models}.
 */
public final class InferenceServer implements AutoCloseable {

    public static final String MODEL = "flatfare-tiny";
    public static final String EMBED_MODEL = "flatfare-tiny-embed";

    private final ServiceProcess process;
    private final String instanceId;

    private InferenceServer(ServiceProcess process, String instanceId) {
        this.process = process;
        this.instanceId = instanceId;
    }

    /** Configuration of one instance; {@link #start()} launches it and waits until its models are warm. */
    public static Builder builder(int registryPort, String instanceId) {
        return new Builder(registryPort, instanceId);
    }

    public static final class Builder {
        private final int registryPort;
        private final String instanceId;
        private int slots = 2;
        private int queue = 2;
        private int context = 4096;
        private final List<String[]> properties = new ArrayList<>();

        private Builder(int registryPort, String instanceId) {
            this.registryPort = registryPort;
            this.instanceId = instanceId;
        }

        public Builder slots(int value) {
            slots = value;
            return this;
        }

        public Builder queue(int value) {
            queue = value;
            return this;
        }

        public Builder context(int value) {
            context = value;
            return this;
        }

        public Builder property(String key, String value) {
            properties.add(new String[] {key, value});
            return this;
        }

        public InferenceServer start() {
            Path model = tinyModel();
            ServiceProcess.Builder builder = ServiceProcess.builder(
                            "inference-" + instanceId, ServiceProcess.quarkusJar("inference-service"))
                    .property("flatfare.inference.models." + MODEL + ".path", model.toString())
                    .property("flatfare.inference.models." + MODEL + ".slots", String.valueOf(slots))
                    .property("flatfare.inference.models." + MODEL + ".queue", String.valueOf(queue))
                    .property("flatfare.inference.models." + MODEL + ".context", String.valueOf(context))
                    .property("flatfare.inference.models." + EMBED_MODEL + ".path", model.toString())
                    .property("flatfare.inference.models." + EMBED_MODEL + ".embeddings", "true")
                    .property("flatfare.inference.models." + EMBED_MODEL + ".slots", "1")
                    .property("flatfare.inference.models." + EMBED_MODEL + ".context", "512")
                    .property(
                            "flatfare.inference.native-extract-directory",
                            Path.of("target", "native").toAbsolutePath().toString())
                    .property("flatfare.inference.instance-id", instanceId)
                    .property("quarkus.grpc.clients.registry.host", "127.0.0.1")
                    .property("quarkus.grpc.clients.registry.port", String.valueOf(registryPort));
            for (String[] p : properties) {
                builder.property(p[0], p[1]);
            }
            return new InferenceServer(builder.startReady(Duration.ofSeconds(120)), instanceId);
        }
    }

    /** Writes the tiny model once (with the packaged service's own generator) and returns its path. */
    public static Path tinyModel() {
        return tinyModel(Path.of("target", "test-models"));
    }

    /**
     * Writes the tiny model into {@code directory} unless it is there already (with the packaged service's own
     * generator) and returns its path.
     */
    public static synchronized Path tinyModel(Path directory) {
        try {
            Path dir = Files.createDirectories(directory);
            Path model = dir.resolve("flatfare-tiny.gguf").toAbsolutePath();
            if (Files.exists(model)) {
                return model;
            }
            Path appDir = ServiceProcess.repositoryRoot().resolve("inference-service/target/quarkus-app/app");
            Path app;
            try (var jars = Files.list(appDir)) {
                app = jars.filter(p -> p.getFileName().toString().startsWith("flatfare-inference-service"))
                        .findFirst()
                        .orElseThrow(() -> new IllegalStateException("No inference-service jar in " + appDir));
            } catch (IOException e) {
                throw new IllegalStateException(appDir + " is missing: package inference-service first", e);
            }
            Path partial = dir.resolve("flatfare-tiny.gguf.partial");
            Process generator = new ProcessBuilder(
                            Path.of(System.getProperty("java.home"), "bin", "java")
                                    .toString(),
                            "-cp",
                            app.toString(),
                            "io.flatfare.inference.gguf.TinyModelCli",
                            "--out",
                            partial.toString(),
                            "--context",
                            "8192")
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            if (!generator.waitFor(120, TimeUnit.SECONDS) || generator.exitValue() != 0) {
                Processes.stop(generator.toHandle(), Duration.ofSeconds(5));
                throw new IllegalStateException("TinyModelCli failed to write " + partial);
            }
            Files.move(partial, model);
            return model;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public String instanceId() {
        return instanceId;
    }

    /** HTTP and gRPC port. */
    public int port() {
        return process.port();
    }

    public ServiceProcess process() {
        return process;
    }

    @Override
    public void close() {
        process.close();
    }
}
