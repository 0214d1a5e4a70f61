package io.flatfare.helm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** The chart under test, rendered in-process by Helm (helm-java), and the paths of its neighbours. */
final class Chart {

    static final String RELEASE = "ff";
    static final String NAMESPACE = "flatfare";
    static final String KUBE_VERSION = "1.31.0";

    /** The module directory (surefire's working directory) holds the chart in {@code flatfare/}. */
    static final Path MODULE = Path.of("").toAbsolutePath();

    static final Path DIR = MODULE.resolve("flatfare");
    static final Path REPOSITORY = MODULE.getParent();
    static final Path REQUIRED_VALUES = DIR.resolve("ci/required-values.yaml");
    static final Path GPU_VALUES = DIR.resolve("ci/gpu-values.yaml");

    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /**
     * What the template tests render: a copy of the chart in which the {@code helm.sh/hook} annotation is renamed,
     * since helm-java's {@code template} leaves hooks (the topics Job) out of its output. Nothing else differs;
     * {@link HooksTest} checks the real templates carry the hook annotations.
     */
    static final Path RENDERED = hooksAsManifests();

    private Chart() {}

    /** {@code helm template} with the given values files (in order) and {@code --set} pairs. */
    static String render(List<Path> valuesFiles, Map<String, Object> sets) {
        TemplateCommand template = new Helm(RENDERED)
                .template()
                .withName(RELEASE)
                .withNamespace(NAMESPACE)
                .withKubeVersion(KUBE_VERSION);
        for (Path file : valuesFiles) {
            template = template.withValuesFile(file);
        }
        for (Map.Entry<String, Object> set : sets.entrySet()) {
            template = template.set(set.getKey(), set.getValue());
        }
        return template.call();
    }

    /** The chart's defaults plus only the required connection values. */
    static Manifests renderDefaults() {
        return Manifests.parse(render(List.of(REQUIRED_VALUES), Map.of()));
    }

    /** A production-like install with GPU inference pools. */
    static Manifests renderGpu() {
        return Manifests.parse(render(List.of(REQUIRED_VALUES, GPU_VALUES), Map.of()));
    }

    static Manifests renderWith(Map<String, Object> sets, Path... valuesFiles) {
        List<Path> files = new ArrayList<>(List.of(REQUIRED_VALUES));
        files.addAll(List.of(valuesFiles));
        return Manifests.parse(render(files, new LinkedHashMap<>(sets)));
    }

    static final String HOOK = "helm.sh/hook";
    static final String RENAMED_HOOK = "test.flatfare.io/hook";

    private static Path hooksAsManifests() {
        Path copy = MODULE.resolve("target/chart-with-hooks-as-manifests/flatfare");
        try {
            copyTree(DIR, copy);
            try (Stream<Path> templates = Files.list(copy.resolve("templates"))) {
                for (Path template : templates.toList()) {
                    String text = Files.readString(template);
                    Files.writeString(template, text.replace(HOOK, RENAMED_HOOK));
                }
            }
            return copy;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String fullName(String suffix) {
        return RELEASE + "-flatfare-" + suffix;
    }

    /**
     * A copy of the chart under {@code target/} whose values.yaml is the chart's merged with the given files,
     * as {@code helm lint -f FILE} would see it (helm-java's lint takes no values files).
     */
    static Path copyWithValues(Path target, Path... valuesFiles) {
        try {
            copyTree(DIR, target);
            JsonNode values = YAML.readTree(DIR.resolve("values.yaml").toFile());
            for (Path file : valuesFiles) {
                merge((ObjectNode) values, YAML.readTree(file.toFile()));
            }
            YAML.writeValue(target.resolve("values.yaml").toFile(), values);
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Helm's merge of values files: maps merge key by key, anything else replaces. */
    static void merge(ObjectNode into, JsonNode from) {
        Iterator<Map.Entry<String, JsonNode>> fields = from.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> field = fields.next();
            JsonNode existing = into.get(field.getKey());
            if (existing instanceof ObjectNode target && field.getValue().isObject()) {
                merge(target, field.getValue());
            } else {
                into.set(field.getKey(), field.getValue());
            }
        }
    }

    static void copyTree(Path from, Path to) throws IOException {
        if (Files.exists(to)) {
            try (Stream<Path> old = Files.walk(to)) {
                for (Path p : old.sorted((a, b) -> b.compareTo(a)).toList()) {
                    Files.delete(p);
                }
            }
        }
        try (Stream<Path> files = Files.walk(from)) {
            for (Path source : files.toList()) {
                Path dest = to.resolve(from.relativize(source).toString());
                if (Files.isDirectory(source)) {
                    Files.createDirectories(dest);
                } else {
                    Files.copy(source, dest);
                }
            }
        }
    }
}
