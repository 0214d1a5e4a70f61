package io.flatfare.support.api;

import java.time.Instant;
import java.time.LocalDate;

/**
 * What the services' PostgreSQL can hold, for the checks at an API's edge. A value outside it fails its statement with
 * a data exception (SQL state class 22), which reached the client as a 500 (or, where the failure was read as a
 * conflict, as a 409): a NUL character in text, or a time Java parses but PostgreSQL refuses (Jackson and
 * {@code LocalDate.parse} take years of up to nine digits, signed). A date PostgreSQL does take but cannot write back
 * (the driver sends a far-past {@code LocalDate} as a date it reads back as another) is no better, so times are held to
 * the years 1 to 9999, as ISO 8601 writes them without a sign.
 */
public final class Storable {

    /** For {@code @Pattern}: one line of text without control characters (NUL, tab, line breaks, DEL). */
    public static final String ONE_LINE = "^[^\\p{Cntrl}]*$";

    /** The message that goes with {@link #ONE_LINE}. */
    public static final String ONE_LINE_MESSAGE = "must be one line without control characters";

    /** The first instant an API takes. */
    public static final Instant EARLIEST = Instant.parse("0001-01-01T00:00:00Z");

    /** The last instant an API takes (PostgreSQL keeps microseconds). */
    public static final Instant LATEST = Instant.parse("9999-12-31T23:59:59.999999Z");

    private Storable() {}

    /** Whether {@code text} has no NUL character, the one character no PostgreSQL text can hold. */
    public static boolean text(String text) {
        return text.indexOf('\0') < 0;
    }

    /** Whether {@code instant} is between {@link #EARLIEST} and {@link #LATEST}. */
    public static boolean instant(Instant instant) {
        return !instant.isBefore(EARLIEST) && !instant.isAfter(LATEST);
    }

    /** Whether {@code day} is in the years 1 to 9999. */
    public static boolean day(LocalDate day) {
        return day.getYear() >= 1 && day.getYear() <= 9999;
    }
}
