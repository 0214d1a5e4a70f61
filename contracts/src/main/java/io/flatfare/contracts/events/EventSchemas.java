package io.flatfare.contracts.events;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.json.schema.Draft;
import io.vertx.json.schema.JsonSchema;
import io.vertx.json.schema.JsonSchemaOptions;
import io.vertx.json.schema.OutputFormat;
import io.vertx.json.schema.OutputUnit;
import io.vertx.json.schema.Validator;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Validates event JSON against the published JSON Schemas (draft 2020-12), e.g. in metering's intake, so that
 * an invalid record goes to {@link Topics#USAGE_DLQ} with every reason rather than the first one.
 *
 * <p>On top of the schemas one rule applies that JSON Schema cannot express: no number in an event may be
 * written as a floating-point literal. The schemas type every number as an integer, but JSON Schema counts
 * {@code 1.0} as an integer, and money must never pass through a float.
 *
 * <p>The schemas are loaded from the classpath once; validation is thread-safe.
 */
public final class EventSchemas {

    /** Base URI of the schema {@code $id}s. */
    public static final String BASE_URI = "https://flatfare.io/schemas/";

    private static final Map<Class<?>, String> RESOURCES = Map.of(
            UsageEvent.class, "usage-event.v1.schema.json",
            RatedUsage.class, "rated-usage.v1.schema.json");

    private static final Map<Class<?>, Validator> VALIDATORS = RESOURCES.entrySet().stream()
            .collect(Collectors.toUnmodifiableMap(Map.Entry::getKey, e -> load(e.getValue())));

    private static final Result VALID = new Result(List.of());

    private EventSchemas() {}

    /** A place in the document (a JSON Pointer as a URI fragment: {@code #} is the root) and what is wrong there. */
    public record Violation(String path, String message) {
        @Override
        public String toString() {
            return path + ": " + message;
        }
    }

    /** The outcome of a validation: valid exactly when there are no violations. */
    public record Result(List<Violation> violations) {
        public Result {
            violations = List.copyOf(violations);
        }

        public boolean valid() {
            return violations.isEmpty();
        }

        /** All violations on one line, e.g. for {@link Topics#DLQ_REASON}; empty when valid. */
        public String summary() {
            return violations.stream().map(Violation::toString).collect(Collectors.joining("; "));
        }
    }

    /**
     * Validates UTF-8 JSON against the schema of {@code eventType} ({@link UsageEvent} or {@link RatedUsage}).
     * A valid {@link UsageEvent} is recognised by a fast single-pass check; anything else goes through the full
     * validator, so the violations listed are always the full validator's.
     */
    public static Result validate(Class<?> eventType, byte[] json) {
        if (eventType == UsageEvent.class && UsageEventReader.read(json) != null) {
            return VALID;
        }
        return validateWithSchema(eventType, json);
    }

    /**
     * Reads an event that must be valid against its schema and the record's own invariants, as an intake does:
     * {@link #validate} and then {@link EventJson#fromJson}, with a single pass for a valid {@link UsageEvent}.
     *
     * @throws IllegalArgumentException when it is not; the message is {@link Result#summary()} for schema
     *     violations, else the broken invariant, fit for a DLQ reason
     */
    public static <T> T read(Class<T> eventType, byte[] json) {
        if (eventType == UsageEvent.class) {
            UsageEvent event = UsageEventReader.read(json);
            if (event != null) {
                return eventType.cast(event);
            }
        }
        Result check = validateWithSchema(eventType, json);
        if (!check.valid()) {
            throw new IllegalArgumentException(check.summary());
        }
        return EventJson.fromJson(json, eventType);
    }

    /** The full validator (Vert.x, every violation listed), whatever the type; the fast path's reference. */
    static Result validateWithSchema(Class<?> eventType, byte[] json) {
        Validator validator = validator(eventType);
        JsonNode tree;
        try {
            tree = EventJson.mapper().readTree(json);
        } catch (JsonProcessingException e) {
            return new Result(List.of(new Violation("#", "not valid JSON: " + e.getOriginalMessage())));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return validate(validator, tree);
    }

    public static Result validate(Class<?> eventType, String json) {
        return validate(eventType, json.getBytes(StandardCharsets.UTF_8));
    }

    /** The {@code $id} of the schema of {@code eventType}. */
    public static String schemaId(Class<?> eventType) {
        return BASE_URI + resource(eventType);
    }

    /** The classpath resource holding the schema of {@code eventType}, for publishing it. */
    public static String schemaResource(Class<?> eventType) {
        return "schemas/" + resource(eventType);
    }

    private static Result validate(Validator validator, JsonNode tree) {
        if (tree == null || tree.isMissingNode()) {
            return new Result(List.of(new Violation("#", "empty document")));
        }
        Set<Violation> violations = new LinkedHashSet<>();
        OutputUnit output = validator.validate(toVertx(tree));
        if (!Boolean.TRUE.equals(output.getValid())) {
            List<OutputUnit> errors = output.getErrors() == null ? List.of(output) : output.getErrors();
            for (OutputUnit error : errors) {
                if (!isRedundant(error, errors)) {
                    violations.add(new Violation(error.getInstanceLocation(), error.getError()));
                }
            }
        }
        findFloats(tree, "#", violations);
        return new Result(new ArrayList<>(violations));
    }

    /**
     * The validator's basic output also lists summaries ("property x does not match schema") next to the error
     * that caused them, and reports a declared property that failed its own schema under
     * {@code additionalProperties} as well. Neither helps whoever reads a DLQ reason.
     */
    private static boolean isRedundant(OutputUnit error, List<OutputUnit> all) {
        String location = error.getInstanceLocation();
        String keyword = error.getKeywordLocation();
        boolean additional = keyword != null && keyword.endsWith("/additionalProperties");
        for (OutputUnit other : all) {
            if (other == error || !location.equals(other.getInstanceLocation())) {
                continue;
            }
            String otherKeyword = other.getKeywordLocation();
            if (keyword != null && otherKeyword != null && otherKeyword.startsWith(keyword + "/")) {
                return true;
            }
            if (additional && otherKeyword != null && !otherKeyword.endsWith("/additionalProperties")) {
                return true;
            }
        }
        return false;
    }

    private static void findFloats(JsonNode node, String path, Set<Violation> violations) {
        if (node.isFloatingPointNumber()) {
            // Non-integral values are already reported by the schema's "type": "integer".
            double value = node.doubleValue();
            if (Double.isFinite(value) && value == Math.rint(value)) {
                violations.add(new Violation(
                        path,
                        node.asText() + " is written as a floating-point number; write integers without a"
                                + " fraction or exponent"));
            }
        } else if (node.isObject()) {
            node.properties().forEach(e -> findFloats(e.getValue(), path + "/" + escape(e.getKey()), violations));
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                findFloats(node.get(i), path + "/" + i, violations);
            }
        }
    }

    private static String escape(String key) {
        return key.replace("~", "~0").replace("/", "~1");
    }

    private static Object toVertx(JsonNode tree) {
        Object value = EventJson.mapper().convertValue(tree, Object.class);
        if (value instanceof Map<?, ?> map) {
            @SuppressWarnings("unchecked")
            Map<String, Object> object = (Map<String, Object>) map;
            return new JsonObject(object);
        }
        if (value instanceof List<?> list) {
            return new JsonArray(new ArrayList<>(list));
        }
        return value;
    }

    private static Validator validator(Class<?> eventType) {
        Validator validator = VALIDATORS.get(eventType);
        if (validator == null) {
            throw new IllegalArgumentException("no schema for " + eventType.getName());
        }
        return validator;
    }

    private static String resource(Class<?> eventType) {
        String resource = RESOURCES.get(eventType);
        if (resource == null) {
            throw new IllegalArgumentException("no schema for " + eventType.getName());
        }
        return resource;
    }

    private static Validator load(String resource) {
        String path = "/schemas/" + resource;
        try (InputStream in = EventSchemas.class.getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("schema " + path + " is missing from the classpath");
            }
            JsonObject schema = new JsonObject(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            JsonSchemaOptions options = new JsonSchemaOptions()
                    .setDraft(Draft.DRAFT202012)
                    .setBaseUri(BASE_URI)
                    .setOutputFormat(OutputFormat.Basic);
            return Validator.create(JsonSchema.of(schema), options);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read schema " + path, e);
        }
    }
}
