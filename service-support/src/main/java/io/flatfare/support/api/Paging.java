package io.flatfare.support.api;

/**
 * The size of one page of a listing, from the query's {@code limit} as sent. Taken as text, so that {@code limit=abc}
 * or a number beyond {@code int} is the same 400 as {@code limit=0} (a JAX-RS integer parameter that does not parse
 * is answered 404).
 */
public final class Paging {

    private Paging() {}

    public static int size(String limit, int defaultSize, int max) {
        if (limit == null) {
            return defaultSize;
        }
        int size;
        try {
            size = Integer.parseInt(limit);
        } catch (NumberFormatException e) {
            size = 0;
        }
        if (size < 1 || size > max) {
            throw new ApiException(
                    ApiException.Kind.INVALID_ARGUMENT,
                    "'limit' must be between 1 and " + max + ".",
                    "limit",
                    "invalid_value");
        }
        return size;
    }
}
