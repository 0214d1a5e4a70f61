package io.flatfare.registry.api.rest;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import io.flatfare.registry.domain.Capability;
import java.util.Arrays;
import java.util.Locale;

/** Capabilities as the admin API spells them: lower case. */
public enum CapabilityName {
    CHAT(Capability.CHAT),
    COMPLETION(Capability.COMPLETION),
    EMBEDDINGS(Capability.EMBEDDINGS),
    TRANSCRIPTION(Capability.TRANSCRIPTION),
    IMAGE(Capability.IMAGE);

    private final Capability capability;

    CapabilityName(Capability capability) {
        this.capability = capability;
    }

    Capability capability() {
        return capability;
    }

    static CapabilityName of(Capability capability) {
        return valueOf(capability.name());
    }

    @JsonValue
    public String json() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static CapabilityName fromJson(String value) {
        return Arrays.stream(values())
                .filter(c -> c.json().equals(value))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException(
                        "must be one of chat, completion, embeddings, transcription, image"));
    }
}
