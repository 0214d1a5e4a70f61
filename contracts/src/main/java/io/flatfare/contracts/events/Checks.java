package io.flatfare.contracts.events;

/** Invariant checks shared by the event records; messages name the JSON property so they read well in a DLQ. */
final class Checks {

    static final int MAX_ID_LENGTH = 255;

    private Checks() {}

    static <T> T required(T value, String field) {
        if (value == null) {
            throw new IllegalArgumentException(field + " must not be null");
        }
        return value;
    }

    static String id(String value, String field) {
        required(value, field);
        if (!isId(value)) {
            throw new IllegalArgumentException(field + " must be 1 to " + MAX_ID_LENGTH
                    + " characters without whitespace or control characters, was '" + value.replaceAll("\\p{Cc}", "?")
                    + "'");
        }
        return value;
    }

    /**
     * The schema's id pattern {@code [^\s\u0000-\u001f\u007f-\u009f]{1,255}} without a regex (every event checks
     * several ids, twice when rated), plus what a regex cannot say: 1 to 255 code points, none of them whitespace as
     * Java's {@code \s} means it (space, tab, line feed, vertical tab, form feed, carriage return) or a control
     * character, and no unpaired surrogate. A NUL cannot be stored in PostgreSQL at all, and an unpaired surrogate is
     * stored as {@code ?}, a different id, so such an event is invalid rather than a failure of every consumer.
     */
    static boolean isId(String value) {
        int length = value.length();
        if (length == 0 || (length > MAX_ID_LENGTH && value.codePointCount(0, length) > MAX_ID_LENGTH)) {
            return false;
        }
        for (int i = 0; i < length; i++) {
            char c = value.charAt(i);
            if (c <= ' ' || (c >= '\u007f' && c <= '\u009f')) {
                return false;
            }
            if (Character.isSurrogate(c)) {
                if (!Character.isHighSurrogate(c)
                        || i + 1 == length
                        || !Character.isLowSurrogate(value.charAt(i + 1))) {
                    return false;
                }
                i++;
            }
        }
        return true;
    }

    /** The pattern {@code [a-z][a-z0-9_-]{0,63}} without a regex. */
    static boolean isPriceTier(String value) {
        int length = value.length();
        if (length == 0 || length > 64 || value.charAt(0) < 'a' || value.charAt(0) > 'z') {
            return false;
        }
        for (int i = 1; i < length; i++) {
            char c = value.charAt(i);
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
                return false;
            }
        }
        return true;
    }

    static String optionalId(String value, String field) {
        return value == null ? null : id(value, field);
    }

    static String optionalPriceTier(String value, String field) {
        if (value != null && !isPriceTier(value)) {
            throw new IllegalArgumentException(field
                    + " must be a lower-case name like 'small' (a-z, 0-9, '_', '-'; at most 64), was '" + value + "'");
        }
        return value;
    }

    static String priceTier(String value, String field) {
        return optionalPriceTier(required(value, field), field);
    }

    static void nonNegative(long value, String field) {
        if (value < 0) {
            throw new IllegalArgumentException(field + " must be >= 0, was " + value);
        }
    }

    static void optionalNonNegative(Long value, String field) {
        if (value != null) {
            nonNegative(value, field);
        }
    }

    static void atLeast(long value, long min, String field) {
        if (value < min) {
            throw new IllegalArgumentException(field + " must be >= " + min + ", was " + value);
        }
    }

    static void schemaVersion(int value, int expected) {
        if (value != expected) {
            throw new IllegalArgumentException("schema_version must be " + expected + ", was " + value);
        }
    }
}
