package io.flatfare.contracts.events;

import java.util.regex.Pattern;

/** Invariant checks shared by the event records; messages name the JSON property so they read well in a DLQ. */
final class Checks {

    static final int MAX_ID_LENGTH = 255;
    private static final Pattern ID = Pattern.compile("\\S{1," + MAX_ID_LENGTH + "}");
    private static final Pattern PRICE_TIER = Pattern.compile("[a-z][a-z0-9_-]{0,63}");

    private Checks() {}

    static <T> T required(T value, String field) {
        if (value == null) {
            throw new IllegalArgumentException(field + " must not be null");
        }
        return value;
    }

    static String id(String value, String field) {
        required(value, field);
        if (!ID.matcher(value).matches()) {
            throw new IllegalArgumentException(
                    field + " must be 1 to " + MAX_ID_LENGTH + " characters without whitespace, was '" + value + "'");
        }
        return value;
    }

    static String optionalId(String value, String field) {
        return value == null ? null : id(value, field);
    }

    static String optionalPriceTier(String value, String field) {
        if (value != null && !PRICE_TIER.matcher(value).matches()) {
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
