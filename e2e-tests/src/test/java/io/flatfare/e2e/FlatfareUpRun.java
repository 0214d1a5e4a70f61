package io.flatfare.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.flatfare.testing.services.ServiceProcess;
import io.flatfare.testing.support.Dirs;
import io.flatfare.testing.support.FreePorts;
import io.flatfare.testing.support.Processes;
import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

/**
 * {@code ./flatfare up} started as a user starts it, on free ports and a new data directory, with what a test needs
 * to look behind the API: the printed settings, the tokens it keeps, and the ports of metering and Kafka.
 */
final class FlatfareUpRun implements AutoCloseable {

    private static final Duration START_TIMEOUT = Duration.ofMinutes(6);
    private static final List<String> PORT_OPTIONS = List.of(
            "port",
            "registry-port",
            "inference-port",
            "metering-port",
            "postgres-port",
            "kafka-port",
            "kafka-controller-port",
            "redis-port");

    private final Path data;
    private final Process process;
    private final Map<String, Integer> ports;
    private final Map<String, String> settings;

    private FlatfareUpRun(Path data, Process process, Map<String, Integer> ports, Map<String, String> settings) {
        this.data = data;
        this.process = process;
        this.ports = ports;
        this.settings = settings;
    }

    /** On free ports and a new data directory under {@code e2e-tests/target}. */
    static FlatfareUpRun start() {
        // Under target/, not /tmp: as root, PostgreSQL runs as the OS user postgres, which must be able to reach it.
        Path data = ServiceProcess.repositoryRoot().resolve("e2e-tests/target/up-" + UUID.randomUUID());
        Map<String, Integer> ports = new LinkedHashMap<>();
        Iterator<Integer> free = FreePorts.distinct(PORT_OPTIONS.size()).iterator();
        for (String option : PORT_OPTIONS) {
            ports.put(option, free.next());
        }
        return start(data, ports, "up");
    }

    /** Another run on the same data directory and ports, after this one stopped. */
    FlatfareUpRun again(String name) {
        return start(data, ports, name);
    }

    private static FlatfareUpRun start(Path data, Map<String, Integer> ports, String name) {
        Path root = ServiceProcess.repositoryRoot();
        List<String> command =
                new ArrayList<>(List.of(root.resolve("flatfare").toString(), "up", "--data-dir", data.toString()));
        ports.forEach((option, port) -> {
            command.add("--" + option);
            command.add(String.valueOf(port));
        });
        try {
            Files.createDirectories(data);
            Path out = data.resolveSibling(data.getFileName() + "-" + name + ".out");
            Path err = data.resolveSibling(data.getFileName() + "-" + name + ".err");
            ProcessBuilder builder = new ProcessBuilder(command)
                    .directory(root.toFile())
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile());
            // Maven has packaged every module before this module's tests: the script must not build.
            builder.environment().put("FLATFARE_NO_BUILD", "1");
            Process process = builder.start();
            Map<String, String> settings = new HashMap<>();
            try {
                await().atMost(START_TIMEOUT)
                        .pollInterval(Duration.ofMillis(250))
                        .until(() -> {
                            assertThat(process.isAlive())
                                    .as("./flatfare up exited early; stderr:\n%s", Files.readString(err))
                                    .isTrue();
                            settings.clear();
                            for (String line : Files.readAllLines(out)) {
                                int eq = line.indexOf('=');
                                if (line.startsWith("FLATFARE_") && eq > 0) {
                                    settings.put(line.substring(0, eq), line.substring(eq + 1));
                                }
                            }
                            return settings.size() == 4;
                        });
            } catch (RuntimeException | Error e) {
                Processes.stop(process.toHandle(), Duration.ofSeconds(30));
                throw e;
            }
            return new FlatfareUpRun(data, process, ports, Map.copyOf(settings));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Process process() {
        return process;
    }

    Path dataDirectory() {
        return data;
    }

    int port(String option) {
        return ports.get(option);
    }

    /** The lines printed for scripts: FLATFARE_BASE_URL, _API_KEY, _MODEL, _EMBEDDING_MODEL. */
    Map<String, String> settings() {
        return settings;
    }

    String meteringUrl() {
        return "http://127.0.0.1:" + ports.get("metering-port");
    }

    String kafkaBootstrapServers() {
        return "127.0.0.1:" + ports.get("kafka-port");
    }

    /** A token from the data directory's tokens.properties, e.g. {@code metering.finance-token}. */
    String token(String name) {
        Properties tokens = new Properties();
        try (Reader reader = Files.newBufferedReader(data.resolve("tokens.properties"))) {
            tokens.load(reader);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return tokens.getProperty(name);
    }

    /** Stops the launcher (SIGTERM, then SIGKILL after 45 s) and deletes the data directory. */
    @Override
    public void close() {
        Processes.stop(process.toHandle(), Duration.ofSeconds(45));
        Dirs.delete(data);
    }
}
