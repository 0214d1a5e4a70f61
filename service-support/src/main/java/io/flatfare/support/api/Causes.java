package io.flatfare.support.api;

/** The first throwable of a type in a cause chain, for the mappers that judge a failure by what is under it. */
final class Causes {

    private Causes() {}

    static <T extends Throwable> T find(Throwable e, Class<T> type) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        return null;
    }
}
