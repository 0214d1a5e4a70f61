package io.flatfare.support.api;

import java.util.List;

/**
 * One page of a listing: {@code {"object":"list","data":[...],"has_more":…,"next_after":…}}, where {@code next_after}
 * (null on the last page) is the {@code after} that asks for the next one.
 */
public record PageView<T>(String object, List<T> data, boolean hasMore, String nextAfter) {

    public static <T> PageView<T> of(List<T> data, String nextAfter) {
        return new PageView<>("list", data, nextAfter != null, nextAfter);
    }
}
