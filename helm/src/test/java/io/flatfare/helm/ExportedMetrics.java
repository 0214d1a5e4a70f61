package io.flatfare.helm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** The metrics the services export, read from their code: what the dashboard and the alerts may query. */
final class ExportedMetrics {

    static final List<String> SERVICES =
            List.of("gateway-service", "inference-service", "model-registry", "metering-service");

    /** Micrometer meters registered in the services' code, by their dotted names. */
    private static final Pattern METER = Pattern.compile("(?:builder|gauge)\\(\\s*\"(flatfare\\.[a-z]+\\.[a-z.]+)\"");

    private ExportedMetrics() {}

    /** How Micrometer's Prometheus registry names a meter: counters _total, timers _seconds_*, sizes _bytes... */
    static Set<String> prometheusNames(String meter) {
        String base = meter.replace('.', '_');
        Set<String> names = new HashSet<>();
        for (String stem : List.of(base, base + "_seconds", base + "_bytes")) {
            names.add(stem);
            for (String suffix : List.of("_total", "_bucket", "_count", "_sum", "_max")) {
                names.add(stem + suffix);
            }
        }
        return names;
    }

    static Set<String> metersInCode() throws IOException {
        Set<String> meters = new TreeSet<>();
        for (String service : SERVICES) {
            Path sources = Chart.REPOSITORY.resolve(service).resolve("src/main/java");
            try (Stream<Path> files = Files.walk(sources)) {
                files.filter(p -> p.toString().endsWith(".java")).forEach(file -> {
                    try {
                        Matcher m = METER.matcher(Files.readString(file));
                        while (m.find()) {
                            meters.add(m.group(1));
                        }
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
            }
        }
        return meters;
    }

    /** Every Prometheus name of every meter in the services' code. */
    static Set<String> prometheusNames() throws IOException {
        Set<String> names = new HashSet<>();
        for (String meter : metersInCode()) {
            names.addAll(prometheusNames(meter));
        }
        return names;
    }
}
