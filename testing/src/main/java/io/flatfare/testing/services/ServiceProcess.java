package io.flatfare.testing.services;

import io.flatfare.testing.support.Cleanup;
import io.flatfare.testing.support.Dirs;
import io.flatfare.testing.support.FreePorts;
import io.flatfare.testing.support.Processes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntSupplier;

/**
 * One of Flatfare's own services running as a real process from its packaged jar ({@code java -jar
 * module/target/quarkus-app/quarkus-run.jar}), for tests that need the process boundary: start-up failures,
 * exit codes, signals, and services talking to each other over the network.
 */
public final class ServiceProcess implements AutoCloseable {

    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private final String name;
    private final int port;
    private final Process process;
    private final Path log;
    private final Cleanup cleanup;

    private ServiceProcess(String name, int port, Process process, Path log, Cleanup cleanup) {
        this.name = name;
        this.port = port;
        this.process = process;
        this.log = log;
        this.cleanup = cleanup;
    }

    /** The packaged jar of a module of this repository; fails clearly when the module was not built. */
    public static Path quarkusJar(String module) {
        Path jar = repositoryRoot().resolve(module).resolve("target/quarkus-app/quarkus-run.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " does not exist: build the module first (./mvnw verify from the"
                    + " repository root builds every module in order)");
        }
        return jar;
    }

    /** The repository root: the nearest directory upwards holding the Maven wrapper. */
    public static Path repositoryRoot() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("mvnw")) && Files.isDirectory(dir.resolve("contracts"))) {
                return dir;
            }
        }
        throw new IllegalStateException(
                "Not inside the Flatfare repository: " + Path.of("").toAbsolutePath());
    }

    public static Builder builder(String name, Path jar) {
        return new Builder(name, jar);
    }

    public static final class Builder {
        private final String name;
        private final Path jar;
        private final Map<String, String> properties = new LinkedHashMap<>();
        private final Map<String, String> environment = new LinkedHashMap<>();
        private int port;
        private IntSupplier ports = FreePorts::pick;
        private Path workDirectory;

        private Builder(String name, Path jar) {
            this.name = name;
            this.jar = jar;
        }

        /** A system property ({@code -Dkey=value}); Quarkus reads its configuration from them too. */
        public Builder property(String key, String value) {
            properties.put(key, value);
            return this;
        }

        public Builder env(String key, String value) {
            environment.put(key, value);
            return this;
        }

        /** The HTTP (and gRPC) port; a free one when not set. */
        public Builder port(int value) {
            this.port = value;
            return this;
        }

        /**
         * Runs the process in this directory, appending its output to {@code <name>.log} there, and keeps the
         * directory on close (state such as a journal outlives the process); a throwaway one when not set.
         */
        public Builder workDirectory(Path value) {
            this.workDirectory = value;
            return this;
        }

        /** Where a port comes from when none is set: free ones; tests hand out a taken one first to see the retry. */
        public Builder ports(IntSupplier value) {
            this.ports = value;
            return this;
        }

        /**
         * Starts the process and waits until it is ready. A picked port that another process took before the
         * service bound it (the service then exits saying so) is not a failure of the service: it starts again on
         * another, up to three times. A port set with {@link #port(int)} is never changed.
         */
        public ServiceProcess startReady(Duration timeout) {
            for (int attempt = 1; ; attempt++) {
                ServiceProcess process = start();
                try {
                    return process.awaitReady(timeout);
                } catch (RuntimeException e) {
                    boolean clash = port == 0 && attempt < 3 && process.exitedOnPortClash();
                    process.close();
                    if (!clash) {
                        throw e;
                    }
                }
            }
        }

        public ServiceProcess start() {
            int httpPort = port > 0 ? port : ports.getAsInt();
            boolean throwaway = workDirectory == null;
            Path dir = throwaway ? Dirs.createTemp("flatfare-" + name) : createDirectories(workDirectory);
            Path log = dir.resolve(name + ".log");
            List<String> command = new ArrayList<>();
            command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            command.add("--enable-native-access=ALL-UNNAMED");
            command.add("-Dquarkus.http.port=" + httpPort);
            properties.forEach((k, v) -> command.add("-D" + k + "=" + v));
            command.add("-jar");
            command.add(jar.toString());
            Process process;
            try {
                var builder = new ProcessBuilder(command)
                        .directory(dir.toFile())
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
                builder.environment().putAll(environment);
                process = builder.start();
            } catch (IOException e) {
                if (throwaway) {
                    Dirs.delete(dir);
                }
                throw new UncheckedIOException("Could not start " + name, e);
            }
            Cleanup cleanup = Cleanup.register(name, () -> {
                Processes.stop(process.toHandle(), Duration.ofSeconds(30));
                if (throwaway) {
                    Dirs.delete(dir);
                }
            });
            return new ServiceProcess(name, httpPort, process, log, cleanup);
        }
    }

    private static Path createDirectories(Path dir) {
        try {
            return Files.createDirectories(dir.toAbsolutePath());
        } catch (IOException e) {
            throw new UncheckedIOException("Could not create " + dir, e);
        }
    }

    public int port() {
        return port;
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + port;
    }

    public long pid() {
        return process.pid();
    }

    /** Waits until {@code /q/health/ready} answers 200; fails at once if the process exits meanwhile. */
    public ServiceProcess awaitReady(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        var request = HttpRequest.newBuilder(URI.create(baseUrl() + "/q/health/ready"))
                .timeout(Duration.ofSeconds(2))
                .build();
        while (true) {
            if (!process.isAlive()) {
                throw new IllegalStateException(name + " exited with code " + process.exitValue()
                        + " before it was ready. Output:\n" + output());
            }
            try {
                if (HTTP.send(request, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return this;
                }
            } catch (IOException e) {
                // Not listening yet.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("Interrupted while waiting for " + name, e);
            }
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException(name + " was not ready within " + timeout + ". Output:\n" + output());
            }
            Processes.awaitExit(process.toHandle(), Duration.ofMillis(50));
        }
    }

    /** Waits for the process to exit by itself and returns its exit code. */
    public int awaitExit(Duration timeout) {
        if (!Processes.awaitExit(process.toHandle(), timeout)) {
            throw new IllegalStateException(name + " still runs after " + timeout + ". Output:\n" + output());
        }
        try {
            // The process has exited (it may still be a zombie): waitFor reaps it, so exitValue can be read.
            return process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while waiting for " + name + " to exit", e);
        }
    }

    /** SIGTERM: a graceful shutdown. */
    public void terminate() {
        process.destroy();
    }

    /** SIGKILL: a crash. */
    public void kill() {
        process.destroyForcibly();
    }

    public boolean isRunning() {
        return Processes.isRunning(process.toHandle());
    }

    /** Whether the process has exited because its port was taken (Quarkus' and the JDK's words for it). */
    boolean exitedOnPortClash() {
        if (process.isAlive()) {
            return false;
        }
        String output = output();
        return output.contains("Port " + port + " seems to be in use") || output.contains("Address already in use");
    }

    /** Everything the process printed so far. */
    public String output() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no output: " + e.getMessage() + ")";
        }
    }

    /** Stops the process (SIGTERM, then SIGKILL after 30 s) and deletes its directory. */
    @Override
    public void close() {
        cleanup.run();
    }
}
