package io.flatfare.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.testing.services.ServiceProcess;
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
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@code ./flatfare up} as a user runs it: the script, on free ports and a fresh data directory, against the packaged
 * services. The API answers with the printed settings, SIGTERM stops every process it started, and a second run on
 * the same directory keeps the key.
 */
class FlatfareUpIT {

    private static final Duration START_TIMEOUT = Duration.ofMinutes(6);
    private static final Duration STOP_BOUND = Duration.ofSeconds(45);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private final Path root = ServiceProcess.repositoryRoot();
    // Under target/, not /tmp: as root, PostgreSQL runs as the OS user postgres, which must be able to reach it.
    private final Path data = root.resolve("platform-launcher/target/it-data-" + UUID.randomUUID());
    private final List<Process> launched = new ArrayList<>();

    @AfterEach
    void cleanUp() {
        launched.forEach(p -> Processes.stop(p.toHandle(), Duration.ofSeconds(30)));
        Dirs.delete(data);
    }

    @Test
    void upServesTheApiStopsOnSigtermAndKeepsItsStateForTheNextRun() throws Exception {
        List<String> ports = portArguments();

        Run first = up(ports, "first");
        assertThat(first.settings().get("FLATFARE_BASE_URL")).isEqualTo("http://127.0.0.1:" + ports.get(1) + "/v1");
        assertThat(first.settings()).containsEntry("FLATFARE_MODEL", "flatfare-tiny");
        assertThat(first.settings()).containsEntry("FLATFARE_EMBEDDING_MODEL", "flatfare-tiny-embed");
        assertChatCompletionWorks(first.settings());
        assertThat(Files.getPosixFilePermissions(data.resolve("demo-api-key")))
                .isEqualTo(PosixFilePermissions.fromString("rw-------"));
        List<Long> children = childPids();
        assertThat(children).hasSizeGreaterThanOrEqualTo(6); // postgres, redis and the four services
        assertThat(children).allMatch(pid -> ProcessHandle.of(pid).isPresent());

        stopWithSigterm(first.process());
        assertThat(children)
                .as("processes started by the launcher, still running after it exited")
                .noneMatch(
                        pid -> ProcessHandle.of(pid).map(Processes::isRunning).orElse(false));

        Run second = up(ports, "second");
        assertThat(second.settings().get("FLATFARE_API_KEY"))
                .isEqualTo(first.settings().get("FLATFARE_API_KEY"));
        assertChatCompletionWorks(second.settings());
        stopWithSigterm(second.process());
    }

    private record Run(Process process, Map<String, String> settings) {}

    private Run up(List<String> ports, String name) throws IOException {
        Files.createDirectories(data);
        Path out = data.resolveSibling(data.getFileName() + "-" + name + ".out");
        Path err = data.resolveSibling(data.getFileName() + "-" + name + ".err");
        List<String> command =
                new ArrayList<>(List.of(root.resolve("flatfare").toString(), "up", "--data-dir", data.toString()));
        command.addAll(ports);
        ProcessBuilder builder = new ProcessBuilder(command)
                .directory(root.toFile())
                .redirectOutput(out.toFile())
                .redirectError(err.toFile());
        // Maven has just packaged every module; the script must not start a build of its own.
        builder.environment().put("FLATFARE_NO_BUILD", "1");
        Process process = builder.start();
        launched.add(process);
        Map<String, String> settings = new HashMap<>();
        await().atMost(START_TIMEOUT).pollInterval(Duration.ofMillis(200)).until(() -> {
            assertThat(process.isAlive())
                    .as("the launcher exited early; stderr:\n%s", Files.readString(err))
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
        return new Run(process, Map.copyOf(settings));
    }

    private void assertChatCompletionWorks(Map<String, String> settings) throws Exception {
        String body = JSON.writeValueAsString(Map.of(
                "model", settings.get("FLATFARE_MODEL"),
                "max_tokens", 8,
                "messages", List.of(Map.of("role", "user", "content", "Hello"))));
        HttpResponse<String> response = HTTP.send(
                HttpRequest.newBuilder(URI.create(settings.get("FLATFARE_BASE_URL") + "/chat/completions"))
                        .header("Authorization", "Bearer " + settings.get("FLATFARE_API_KEY"))
                        .header("Content-Type", "application/json")
                        .timeout(Duration.ofSeconds(60))
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonNode answer = JSON.readTree(response.body());
        assertThat(answer.path("object").asText()).isEqualTo("chat.completion");
        assertThat(answer.path("choices").get(0).path("message").path("role").asText())
                .isEqualTo("assistant");
        assertThat(answer.path("usage").path("prompt_tokens").asInt()).isPositive();
        assertThat(answer.path("usage").path("completion_tokens").asInt()).isBetween(1, 8);
        assertThat(response.headers().firstValue("x-flatfare-price-tier")).hasValue("small");
    }

    private void stopWithSigterm(Process process) throws InterruptedException {
        long start = System.nanoTime();
        process.destroy(); // SIGTERM
        assertThat(process.waitFor(STOP_BOUND.toSeconds(), TimeUnit.SECONDS))
                .as("the launcher still runs %s after SIGTERM", STOP_BOUND)
                .isTrue();
        assertThat(process.exitValue()).isZero();
        System.out.printf("launcher stopped %d ms after SIGTERM%n", (System.nanoTime() - start) / 1_000_000);
    }

    /** Every process but the launcher itself, from the pids file it writes. */
    private List<Long> childPids() {
        try {
            return Files.readAllLines(data.resolve("pids")).stream()
                    .filter(line -> !line.isBlank() && !line.startsWith("launcher "))
                    .map(line ->
                            Long.parseLong(line.substring(line.indexOf(' ') + 1).trim()))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every port option on a free port (the same for both runs), the gateway's first. */
    private static List<String> portArguments() {
        List<String> args = new ArrayList<>();
        Iterator<Integer> free =
                FreePorts.distinct(UpOptions.DEFAULT_PORTS.size()).iterator();
        for (String option : UpOptions.DEFAULT_PORTS.keySet()) {
            args.add("--" + option);
            args.add(String.valueOf(free.next()));
        }
        return args;
    }
}
