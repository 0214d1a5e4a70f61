package io.flatfare.launcher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** JSON over HTTP with a bearer token, for the services' admin APIs and the gateway's {@code /v1}. */
final class AdminClient {

    /** A status and its JSON body (a missing node when the body was empty or not JSON). */
    record Answer(int status, JsonNode body) {
        boolean ok() {
            return status / 100 == 2;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private final String baseUrl;
    private final String token;

    AdminClient(String baseUrl, String token) {
        this.baseUrl = baseUrl;
        this.token = token;
    }

    Answer get(String path) {
        return send(HttpRequest.newBuilder(URI.create(baseUrl + path)).GET(), path);
    }

    Answer post(String path, Object body) {
        try {
            return send(
                    HttpRequest.newBuilder(URI.create(baseUrl + path))
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))),
                    path);
        } catch (IOException e) {
            throw new IllegalStateException("Could not write the body for " + path, e);
        }
    }

    /** Like {@link #post} but a status other than 2xx is an error naming the call and the answer. */
    JsonNode postOrThrow(String path, Object body) {
        Answer answer = post(path, body);
        if (!answer.ok()) {
            throw new IllegalStateException("POST " + baseUrl + path + " answered " + answer.status() + ": "
                    + answer.body()
                            .path("error")
                            .path("message")
                            .asText(answer.body().toString()));
        }
        return answer.body();
    }

    private Answer send(HttpRequest.Builder request, String path) {
        try {
            HttpResponse<String> response = HTTP.send(
                    request.header("Authorization", "Bearer " + token)
                            .timeout(Duration.ofSeconds(30))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            JsonNode body;
            try {
                body = response.body().isBlank() ? JSON.missingNode() : JSON.readTree(response.body());
            } catch (IOException notJson) {
                body = JSON.missingNode();
            }
            return new Answer(response.statusCode(), body);
        } catch (IOException e) {
            throw new IllegalStateException("Could not call " + baseUrl + path + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while calling " + baseUrl + path, e);
        }
    }
}
