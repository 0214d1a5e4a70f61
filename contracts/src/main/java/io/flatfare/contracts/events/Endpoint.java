package io.flatfare.contracts.events;

import com.fasterxml.jackson.annotation.JsonValue;

/**
 * The public API operation a request called. The JSON value is the OpenAI-compatible path exactly as clients
 * call it, so it can be matched against access logs and the OpenAI documentation without a mapping table.
 */
public enum Endpoint {
    CHAT_COMPLETIONS("/v1/chat/completions"),
    COMPLETIONS("/v1/completions"),
    EMBEDDINGS("/v1/embeddings"),
    AUDIO_TRANSCRIPTIONS("/v1/audio/transcriptions"),
    IMAGES_GENERATIONS("/v1/images/generations"),
    RESPONSES("/v1/responses");

    private final String path;

    Endpoint(String path) {
        this.path = path;
    }

    @JsonValue
    public String path() {
        return path;
    }
}
