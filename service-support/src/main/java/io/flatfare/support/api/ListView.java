package io.flatfare.support.api;

import java.util.List;

/** A list in the OpenAI style: {@code {"object":"list","data":[...]}}. */
public record ListView<T>(String object, List<T> data) {

    public static <T> ListView<T> of(List<T> data) {
        return new ListView<>("list", data);
    }
}
