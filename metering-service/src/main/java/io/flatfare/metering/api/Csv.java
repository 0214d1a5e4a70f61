package io.flatfare.metering.api;

import java.util.List;
import java.util.stream.Collectors;

/** RFC 4180 CSV: a header row, CRLF line ends, fields quoted only when they hold a comma, quote or newline. */
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
}
