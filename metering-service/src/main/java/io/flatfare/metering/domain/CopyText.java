package io.flatfare.metering.domain;

/**
 * Fields of PostgreSQL's {@code COPY ... FROM STDIN} text format: tab between fields, a line feed after the last,
 * {@code \N} for null, and a backslash before any backslash, tab, line feed or carriage return in a value.
 */
final class CopyText {

    private CopyText() {}

    static void field(StringBuilder row, Object value) {
        append(row, value);
        row.append('\t');
    }

    static void last(StringBuilder row, Object value) {
        append(row, value);
        row.append('\n');
    }

    private static void append(StringBuilder row, Object value) {
        if (value == null) {
            row.append("\\N");
        } else if (value instanceof String text) {
            escaped(row, text);
        } else if (value instanceof Boolean flag) {
            row.append(flag ? 't' : 'f');
        } else {
            // Numbers, instants (ISO 8601 with Z) and dates: never a character that needs escaping.
            row.append(value);
        }
    }

    /** Whether the text needs no escaping: the usual case, appended in one piece. */
    private static boolean plain(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
                return false;
            }
        }
        return true;
    }

    private static void escaped(StringBuilder row, String text) {
        if (plain(text)) {
            row.append(text);
            return;
        }
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '\\' -> row.append("\\\\");
                case '\t' -> row.append("\\t");
                case '\n' -> row.append("\\n");
                case '\r' -> row.append("\\r");
                default -> row.append(c);
            }
        }
    }
}
