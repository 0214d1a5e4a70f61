package io.flatfare.registry.api.rest;

import java.util.List;

/** A list in the OpenAI style: {@code {"object":"list","data":[...]}}. */
public record ListView<T>(String object, List<T> data) {

    static <T> ListView<T> of(List<T> data) {
        return new ListView<>("list", data);
    }
}
