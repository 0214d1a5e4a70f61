package io.flatfare.registry.domain;

/** What a model can be used for; decides which /v1 endpoints may route to it. */
public enum Capability {
    CHAT,
    COMPLETION,
    EMBEDDINGS,
    TRANSCRIPTION,
    IMAGE
}
