package io.flatfare.inference.engine.llamacpp;

import java.util.List;

/**
 * Stop strings, matched in Java on the decoded text (llama.cpp never sees them, so it never holds text back and
 * never loses held-back text at the end of a stream). Text that could still become a stop string is held back
 * until it is decided; on a match, the text before it is released and the rest (the stop string included, as the
 * OpenAI API has it) is dropped.
 */
final class StopMatcher {

    private final List<String> stops;
    private final StringBuilder pending = new StringBuilder();
    private boolean matched;

    StopMatcher(List<String> stops) {
        this.stops = stops == null ? List.of() : List.copyOf(stops);
    }

    boolean matched() {
        return matched;
    }

    /** Adds generated text; returns the text that is now safe to emit (possibly empty). */
    String accept(String text) {
        if (matched) {
            return "";
        }
        if (stops.isEmpty()) {
            return text;
        }
        pending.append(text);
        int earliest = -1;
        for (String stop : stops) {
            int at = pending.indexOf(stop);
            if (at >= 0 && (earliest < 0 || at < earliest)) {
                earliest = at;
            }
        }
        if (earliest >= 0) {
            matched = true;
            String released = pending.substring(0, earliest);
            pending.setLength(0);
            return released;
        }
        int keep = heldBack();
        int cut = pending.length() - keep;
        if (cut > 0 && cut < pending.length() && Character.isLowSurrogate(pending.charAt(cut))) {
            cut--; // never split a surrogate pair
        }
        String released = pending.substring(0, cut);
        pending.delete(0, cut);
        return released;
    }

    /** The text still held back, released when the generation ends without a match. */
    String finish() {
        String rest = matched ? "" : pending.toString();
        pending.setLength(0);
        return rest;
    }

    /** Length of the longest suffix of {@code pending} that is a proper prefix of a stop string. */
    private int heldBack() {
        int longest = 0;
        for (String stop : stops) {
            int max = Math.min(stop.length() - 1, pending.length());
            for (int n = max; n > longest; n--) {
                if (endsWithPrefix(stop, n)) {
                    longest = n;
                    break;
                }
            }
        }
        return longest;
    }

    private boolean endsWithPrefix(String stop, int n) {
        int offset = pending.length() - n;
        for (int j = 0; j < n; j++) {
            if (pending.charAt(offset + j) != stop.charAt(j)) {
                return false;
            }
        }
        return true;
    }
}
