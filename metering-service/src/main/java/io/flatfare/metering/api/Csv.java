package io.flatfare.metering.api;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * RFC 4180 CSV: a header row, CRLF line ends, fields quoted only when they hold a comma, quote or newline. Read
 * back leniently: LF line ends too, and blank lines are skipped.
 */
final class Csv {

    static final String MEDIA_TYPE = "text/csv";

    private Csv() {}

    static String of(List<String> header, List<List<Object>> rows) {
        StringBuilder out = new StringBuilder();
        append(out, header.stream().map(h -> (Object) h).toList());
        rows.forEach(row -> append(out, row));
        return out.toString();
    }

    private static void append(StringBuilder out, List<Object> fields) {
        out.append(fields.stream().map(Csv::field).collect(Collectors.joining(",")))
                .append("\r\n");
    }

    private static String field(Object value) {
        if (value == null) {
            return "";
        }
        String text = value.toString();
        if (text.indexOf(',') < 0 && text.indexOf('"') < 0 && text.indexOf('\n') < 0 && text.indexOf('\r') < 0) {
            return text;
        }
        return '"' + text.replace("\"", "\"\"") + '"';
    }

    /** The records of a CSV text, each a list of its fields. */
    static List<List<String>> parse(String text) {
        List<List<String>> records = new ArrayList<>();
        List<String> record = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        boolean quoted = false;
        boolean wasQuoted = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (quoted) {
                if (c != '"') {
                    field.append(c);
                } else if (i + 1 < text.length() && text.charAt(i + 1) == '"') {
                    field.append('"');
                    i++;
                } else {
                    quoted = false;
                }
            } else if (c == '"') {
                quoted = true;
                wasQuoted = true;
            } else if (c == ',') {
                record.add(field.toString());
                field.setLength(0);
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && i + 1 < text.length() && text.charAt(i + 1) == '\n') {
                    i++;
                }
                endRecord(records, record, field, wasQuoted);
                record = new ArrayList<>();
                wasQuoted = false;
            } else {
                field.append(c);
            }
        }
        if (quoted) {
            throw new IllegalArgumentException("unterminated quoted field");
        }
        endRecord(records, record, field, wasQuoted);
        return records;
    }

    private static void endRecord(
            List<List<String>> records, List<String> record, StringBuilder field, boolean wasQuoted) {
        if (record.isEmpty() && field.isEmpty() && !wasQuoted) {
            return;
        }
        record.add(field.toString());
        field.setLength(0);
        records.add(record);
    }
}
