package io.flatfare.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.testing.support.Processes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@code ./flatfare up} as a user runs it: the script, on free ports and a fresh data directory, against the packaged
 * services. The API answers with the printed settings, SIGTERM stops every process it started, and a second run on
 * the same directory keeps the key.
 */
class FlatfareUpIT {

    private static final Duration STOP_BOUND = Duration.ofSeconds(45);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private final List<FlatfareUpRun> runs = new ArrayList<>();

    @AfterEach
    void cleanUp() {
        runs.forEach(FlatfareUpRun::close);
    }

    @Test
    void upServesTheApiStopsOnSigtermAndKeepsItsStateForTheNextRun() throws Exception {
        FlatfareUpRun first = track(FlatfareUpRun.start());
        Map<String, String> settings = first.settings();
        assertThat(settings.get("FLATFARE_BASE_URL")).isEqualTo("http://127.0.0.1:" + first.port("port") + "/v1");
        assertThat(settings).containsEntry("FLATFARE_MODEL", "flatfare-tiny");
        assertThat(settings).containsEntry("FLATFARE_EMBEDDING_MODEL", "flatfare-tiny-embed");
        assertChatCompletionWorks(settings);
        assertTheAdvertisedContextIsServed(settings);
        assertThat(Files.getPosixFilePermissions(first.dataDirectory().resolve("demo-api-key")))
                .isEqualTo(PosixFilePermissions.fromString("rw-------"));
        List<Long> children = childPids(first);
        assertThat(children).hasSizeGreaterThanOrEqualTo(6); // postgres, redis and the four services
        assertThat(children).allMatch(pid -> ProcessHandle.of(pid).isPresent());

        stopWithSigterm(first.process());
        assertThat(children)
                .as("processes started by the launcher, still running after it exited")
                .noneMatch(
                        pid -> ProcessHandle.of(pid).map(Processes::isRunning).orElse(false));

        FlatfareUpRun second = track(first.again("second"));
        assertThat(second.settings().get("FLATFARE_API_KEY")).isEqualTo(settings.get("FLATFARE_API_KEY"));
        assertChatCompletionWorks(second.settings());
        stopWithSigterm(second.process());
    }

    private FlatfareUpRun track(FlatfareUpRun run) {
        runs.add(run);
        return run;
    }

    private void assertChatCompletionWorks(Map<String, String> settings) throws Exception {
        HttpResponse<String> response = chat(settings, "Hello", 8);

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonNode answer = JSON.readTree(response.body());
        assertThat(answer.path("object").asText()).isEqualTo("chat.completion");
        assertThat(answer.path("choices").get(0).path("message").path("role").asText())
                .isEqualTo("assistant");
        assertThat(answer.path("usage").path("prompt_tokens").asInt()).isPositive();
        assertThat(answer.path("usage").path("completion_tokens").asInt()).isBetween(1, 8);
        assertThat(response.headers().firstValue("x-flatfare-price-tier")).hasValue("small");
    }

    /**
     * {@code context_length} in {@code /v1/models} is what fits: a prompt just within it is served, one just over it
     * is {@code context_length_exceeded}. The tiny model's tokenizer is byte-level: one ASCII letter, one token.
     */
    private void assertTheAdvertisedContextIsServed(Map<String, String> settings) throws Exception {
        HttpResponse<String> model = HTTP.send(
                HttpRequest.newBuilder(URI.create(
                                settings.get("FLATFARE_BASE_URL") + "/models/" + settings.get("FLATFARE_MODEL")))
                        .header("Authorization", "Bearer " + settings.get("FLATFARE_API_KEY"))
                        .timeout(Duration.ofSeconds(30))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(model.statusCode()).as(model.body()).isEqualTo(200);
        int context = JSON.readTree(model.body()).path("context_length").asInt();
        assertThat(context).isPositive();

        HttpResponse<String> within = chat(settings, "x".repeat(context - 64), 8);
        assertThat(within.statusCode()).as(within.body()).isEqualTo(200);
        int promptTokens =
                JSON.readTree(within.body()).path("usage").path("prompt_tokens").asInt();
        assertThat(promptTokens).isBetween(context - 64, context - 8);

        HttpResponse<String> over = chat(settings, "x".repeat(context), 8);
        assertThat(over.statusCode()).as(over.body()).isEqualTo(400);
        assertThat(JSON.readTree(over.body()).path("error").path("code").asText())
                .isEqualTo("context_length_exceeded");
    }

    private static HttpResponse<String> chat(Map<String, String> settings, String content, int maxTokens)
            throws Exception {
        String body = JSON.writeValueAsString(Map.of(
                "model", settings.get("FLATFARE_MODEL"),
                "max_tokens", maxTokens,
                "messages", List.of(Map.of("role", "user", "content", content))));
        return HTTP.send(
                HttpRequest.newBuilder(URI.create(settings.get("FLATFARE_BASE_URL") + "/chat/completions"))
                        .header("Authorization", "Bearer " + settings.get("FLATFARE_API_KEY"))
                        .header("Content-Type", "application/json")
                        .timeout(Duration.ofSeconds(60))
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
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
    private static List<Long> childPids(FlatfareUpRun run) {
        try {
            return Files.readAllLines(run.dataDirectory().resolve("pids")).stream()
                    .filter(line -> !line.isBlank() && !line.startsWith("launcher "))
                    .map(line ->
                            Long.parseLong(line.substring(line.indexOf(' ') + 1).trim()))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
