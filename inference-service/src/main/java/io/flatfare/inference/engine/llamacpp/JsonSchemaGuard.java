package io.flatfare.inference.engine.llamacpp;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns a caller's JSON schema into one that llama.cpp b4916's {@code json_schema_to_grammar} converts exactly,
 * or rejects it with a message; it never hands native code a schema it cannot take.
 *
 * <p>Why: through the binding ({@code LlamaModel.jsonSchemaToGrammar}) every conversion error is an uncaught C++
 * exception, which aborts the JVM: invalid JSON, {@code "Unrecognized schema"} (a boolean schema, an unknown
 * type, a schema with only annotations such as {@code {"description": "x"}}), an unresolvable or remote
 * {@code $ref}, a pattern without {@code ^...$}, a keyword of the wrong JSON type ({@code "format": 5},
 * {@code "minItems": "2"}); some patterns ({@code ^*$}, {@code ^(?:a)$}) crash with SIGSEGV and a stray
 * {@code ]} loops forever. Other inputs convert silently into a wrong or invalid grammar ({@code \d} becomes
 * an unknown GBNF escape, {@code minLength > maxLength} an impossible repetition, a negative {@code maximum}
 * alone allows leading zeros), and llama.cpp ignores an invalid grammar at sampling time, so the output would be
 * unconstrained. Constraints the converter drops ({@code minimum} on numbers, {@code uniqueItems}, {@code allOf},
 * {@code not}, ...) are rejected rather than ignored.
 *
 * <p>The result is a normalised schema: annotations are removed, a schema without constraints becomes "any JSON
 * value", integer bounds become an inclusive pair, patterns are rewritten into the subset the converter handles
 * ({@code \d}, {@code \w}, {@code \s} become classes; quantified atoms are grouped), and a schema referring to its
 * root ({@code "$ref": "#"}, which the converter does not resolve) has the root moved under {@code $defs}. Schemas
 * whose grammar would be left-recursive (llama.cpp refuses such a grammar and samples without one) or could never
 * end are refused.
 */
final class JsonSchemaGuard {

    static final int MAX_SCHEMA_CHARS = 65_536;
    static final int MAX_DEPTH = 32;
    static final int MAX_NODES = 2_000;
    static final int MAX_REPEAT = 10_000;
    static final int MAX_ALTERNATIVES = 64;
    static final int MAX_ENUM = 1_024;
    static final int MAX_PROPERTIES = 256;
    static final int MAX_PATTERN = 1_000;
    /** Integer bounds beyond 15 digits are out of the converter's integral-part rule (and of doubles' range). */
    static final long MAX_INTEGER = 999_999_999_999_999L;

    private static final String PARAM = "response_format";
    private static final List<String> TYPES =
            List.of("object", "array", "string", "number", "integer", "boolean", "null");
    private static final List<String> ANY = List.of("object", "array", "string", "number", "boolean", "null");
    private static final Set<String> KNOWN_FORMATS =
            Set.of("date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5");
    private static final Set<String> UNSUPPORTED = Set.of(
            "allOf",
            "not",
            "if",
            "then",
            "else",
            "dependentSchemas",
            "dependentRequired",
            "dependencies",
            "patternProperties",
            "propertyNames",
            "minProperties",
            "maxProperties",
            "unevaluatedProperties",
            "unevaluatedItems",
            "additionalItems",
            "contains",
            "minContains",
            "maxContains",
            "multipleOf",
            "$dynamicRef",
            "$dynamicAnchor",
            "$recursiveRef",
            "$recursiveAnchor");

    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS);

    /** The name under {@code $defs} that a schema referring to its root ({@code "$ref": "#"}) is moved to. */
    static final String ROOT_DEFINITION = "flatfare-root";

    private final Map<ObjectNode, String> schemaNodes = new IdentityHashMap<>();
    private final List<Ref> refs = new ArrayList<>();
    private final Map<ObjectNode, ObjectNode> targets = new IdentityHashMap<>();
    private int nodes;

    /** A {@code $ref} as written: where it is, its normalised node, and the pointer. */
    private record Ref(String path, ObjectNode node, String pointer) {}

    private JsonSchemaGuard() {}

    /** The normalised schema as JSON text, ready for {@code jsonSchemaToGrammar}. */
    static String normalize(String schemaText) {
        if (schemaText == null || schemaText.isBlank()) {
            throw invalid("response_format json_schema needs a schema.");
        }
        if (schemaText.length() > MAX_SCHEMA_CHARS) {
            throw invalid("The JSON schema is longer than " + MAX_SCHEMA_CHARS + " characters.");
        }
        JsonNode root;
        try {
            root = MAPPER.readTree(schemaText);
        } catch (JsonProcessingException e) {
            throw invalid("The JSON schema is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw invalid("The JSON schema must be a JSON object.");
        }
        JsonSchemaGuard guard = new JsonSchemaGuard();
        ObjectNode normalized = guard.schema(root, "#", 0);
        guard.checkRefs(normalized);
        guard.checkNoLeftRecursion();
        guard.checkFinite(normalized);
        normalized = guard.rootReferencesMoved(normalized);
        try {
            return MAPPER.writeValueAsString(normalized);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private ObjectNode schema(JsonNode node, String path, int depth) {
        if (!node.isObject()) {
            throw invalid("The schema at " + path + " must be a JSON object (boolean schemas are not supported).");
        }
        if (depth > MAX_DEPTH) {
            throw invalid("The JSON schema is nested deeper than " + MAX_DEPTH + " levels.");
        }
        if (++nodes > MAX_NODES) {
            throw invalid("The JSON schema has more than " + MAX_NODES + " subschemas.");
        }
        for (var names = node.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (UNSUPPORTED.contains(name)) {
                throw invalid("The schema keyword '" + name + "' (at " + path + ") is not supported.");
            }
        }
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        schemaNodes.put(out, path);
        for (String defs : List.of("$defs", "definitions")) {
            JsonNode value = node.get(defs);
            if (value != null) {
                if (!value.isObject()) {
                    throw invalid(path + "/" + defs + " must be an object.");
                }
                ObjectNode normalized = out.putObject(defs);
                for (var entry : iterable(value)) {
                    normalized.set(
                            entry.getKey(),
                            schema(entry.getValue(), path + "/" + defs + "/" + entry.getKey(), depth + 1));
                }
            }
        }

        if (node.has("$ref")) {
            onlyAnnotationsBeside(node, path, "$ref", "$defs", "definitions");
            JsonNode ref = node.get("$ref");
            if (!ref.isTextual()
                    || !(ref.asText().equals("#") || ref.asText().startsWith("#/"))
                    || ref.asText().contains("~")
                    || ref.asText().contains("%")) {
                throw invalid("$ref at " + path + " must be a local reference such as \"#/$defs/name\" or \"#\".");
            }
            out.put("$ref", ref.asText());
            refs.add(new Ref(path, out, ref.asText()));
            return out;
        }
        for (String union : List.of("anyOf", "oneOf")) {
            if (node.has(union)) {
                onlyAnnotationsBeside(node, path, union, "$defs", "definitions");
                JsonNode alternatives = node.get(union);
                if (!alternatives.isArray() || alternatives.isEmpty() || alternatives.size() > MAX_ALTERNATIVES) {
                    throw invalid(
                            union + " at " + path + " must be an array of 1 to " + MAX_ALTERNATIVES + " schemas.");
                }
                ArrayNode normalized = out.putArray(union);
                for (int i = 0; i < alternatives.size(); i++) {
                    normalized.add(schema(alternatives.get(i), path + "/" + union + "/" + i, depth + 1));
                }
                return out;
            }
        }
        if (node.has("const")) {
            out.set("const", node.get("const"));
            return out;
        }
        if (node.has("enum")) {
            JsonNode values = node.get("enum");
            if (!values.isArray() || values.isEmpty() || values.size() > MAX_ENUM) {
                throw invalid("enum at " + path + " must be an array of 1 to " + MAX_ENUM + " values.");
            }
            out.set("enum", values);
            return out;
        }

        Set<String> types = types(node.get("type"), path);
        JsonNode maxItems = node.get("maxItems");
        if (maxItems != null
                && maxItems.isIntegralNumber()
                && maxItems.asLong() == 0
                && (types.isEmpty() || types.equals(Set.of("array")))) {
            // The converter writes "{0,-1}" for an empty repetition, an invalid grammar: say "the empty array".
            Long min = count(node, "minItems", path);
            if (min != null && min > 0) {
                throw invalid("minItems is greater than maxItems at " + path + ".");
            }
            out.putArray("const");
            return out;
        }
        boolean anyType = types.isEmpty();
        boolean object = anyType || types.contains("object");
        boolean array = anyType || types.contains("array");
        boolean string = anyType || types.contains("string");
        boolean integer = anyType || types.contains("integer");

        boolean hasObjectKeywords = false;
        if (object) {
            hasObjectKeywords = objectKeywords(node, out, path, depth);
        }
        boolean hasArrayKeywords = false;
        if (array) {
            hasArrayKeywords = arrayKeywords(node, out, path, depth);
        }
        boolean hasStringKeywords = false;
        if (string) {
            hasStringKeywords = stringKeywords(node, out, path);
        }
        if (integer || types.contains("number")) {
            numberKeywords(node, out, path, types);
        }

        if (anyType) {
            int kinds = (hasObjectKeywords ? 1 : 0) + (hasArrayKeywords ? 1 : 0) + (hasStringKeywords ? 1 : 0);
            if (kinds > 1) {
                throw invalid("The schema at " + path + " mixes keywords of several types without a \"type\".");
            }
            if (hasStringKeywords) {
                out.put("type", "string");
            } else if (hasArrayKeywords) {
                out.put("type", "array");
            } else if (hasObjectKeywords) {
                // Without a type the converter takes only "properties" (or additionalProperties other than
                // true) as an object, and rejects the rest.
                out.put("type", "object");
            } else {
                // Only annotations (or nothing): any JSON value. The converter rejects {"description": ...} and
                // reads {} as "an object".
                ArrayNode any = out.putArray("type");
                ANY.forEach(any::add);
            }
        } else if (types.size() == 1) {
            out.put("type", types.iterator().next());
        } else {
            ArrayNode list = out.putArray("type");
            types.forEach(list::add);
        }
        return out;
    }

    private boolean objectKeywords(JsonNode node, ObjectNode out, String path, int depth) {
        boolean any = false;
        Set<String> declared = new LinkedHashSet<>();
        JsonNode properties = node.get("properties");
        if (properties != null) {
            any = true;
            if (!properties.isObject() || properties.size() > MAX_PROPERTIES) {
                throw invalid(
                        "properties at " + path + " must be an object of at most " + MAX_PROPERTIES + " schemas.");
            }
            ObjectNode normalized = out.putObject("properties");
            for (var entry : iterable(properties)) {
                if (entry.getKey().isEmpty()) {
                    throw invalid("An empty property name (at " + path + ") is not supported.");
                }
                declared.add(entry.getKey());
                normalized.set(
                        entry.getKey(), schema(entry.getValue(), path + "/properties/" + entry.getKey(), depth + 1));
            }
        }
        JsonNode required = node.get("required");
        if (required != null) {
            any = true;
            if (!required.isArray()) {
                throw invalid("required at " + path + " must be an array of property names.");
            }
            ArrayNode normalized = out.putArray("required");
            Set<String> seen = new LinkedHashSet<>();
            for (JsonNode name : required) {
                if (!name.isTextual() || !seen.add(name.asText())) {
                    throw invalid("required at " + path + " must list distinct property names.");
                }
                if (!declared.contains(name.asText())) {
                    throw invalid(
                            "required property '" + name.asText() + "' at " + path + " is not declared in properties.");
                }
                normalized.add(name.asText());
            }
        }
        JsonNode additional = node.get("additionalProperties");
        if (additional != null) {
            any = true;
            if (additional.isBoolean()) {
                out.put("additionalProperties", additional.asBoolean());
            } else if (additional.isObject()) {
                out.set("additionalProperties", schema(additional, path + "/additionalProperties", depth + 1));
            } else {
                throw invalid("additionalProperties at " + path + " must be a boolean or a schema.");
            }
        }
        return any;
    }

    private boolean arrayKeywords(JsonNode node, ObjectNode out, String path, int depth) {
        boolean any = false;
        JsonNode items = node.get("items");
        JsonNode prefix = node.get("prefixItems");
        boolean tuple = false;
        if (prefix != null) {
            any = true;
            if (items != null) {
                throw invalid("prefixItems together with items (at " + path + ") is not supported.");
            }
            tuple = true;
            out.set("prefixItems", schemaList(prefix, path + "/prefixItems", depth));
        } else if (items != null) {
            any = true;
            if (items.isArray()) {
                tuple = true;
                out.set("items", schemaList(items, path + "/items", depth));
            } else {
                out.set("items", schema(items, path + "/items", depth + 1));
            }
        }
        JsonNode unique = node.get("uniqueItems");
        if (unique != null && !(unique.isBoolean() && !unique.asBoolean())) {
            throw invalid("uniqueItems (at " + path + ") is not supported.");
        }
        Long min = count(node, "minItems", path);
        Long max = count(node, "maxItems", path);
        if (min != null || max != null) {
            any = true;
            if (tuple) {
                throw invalid("minItems/maxItems with a tuple (at " + path + ") are not supported.");
            }
            if (min != null && max != null && min > max) {
                throw invalid("minItems is greater than maxItems at " + path + ".");
            }
            if (max != null && max == 0) {
                throw invalid("maxItems 0 (at " + path + ") is only supported for \"type\": \"array\".");
            }
            if (!out.has("items")) {
                ObjectNode anyItem = out.putObject("items");
                ANY.forEach(anyItem.putArray("type")::add);
                schemaNodes.put(anyItem, path + "/items");
            }
            if (min != null) {
                out.put("minItems", min);
            }
            if (max != null) {
                out.put("maxItems", max);
            }
        }
        return any;
    }

    private ArrayNode schemaList(JsonNode list, String path, int depth) {
        if (!list.isArray() || list.isEmpty() || list.size() > MAX_ALTERNATIVES) {
            throw invalid(path + " must be an array of 1 to " + MAX_ALTERNATIVES + " schemas.");
        }
        ArrayNode normalized = JsonNodeFactory.instance.arrayNode();
        for (int i = 0; i < list.size(); i++) {
            normalized.add(schema(list.get(i), path + "/" + i, depth + 1));
        }
        return normalized;
    }

    private boolean stringKeywords(JsonNode node, ObjectNode out, String path) {
        boolean any = false;
        JsonNode pattern = node.get("pattern");
        JsonNode format = node.get("format");
        Long minLength = count(node, "minLength", path);
        Long maxLength = count(node, "maxLength", path);
        boolean length = minLength != null || maxLength != null;
        String knownFormat = null;
        if (format != null) {
            if (!format.isTextual()) {
                throw invalid("format at " + path + " must be a string.");
            }
            if (KNOWN_FORMATS.contains(format.asText())) {
                knownFormat = format.asText();
            }
            // Other formats are annotations (as JSON Schema 2020-12 has it by default); the converter ignores them.
        }
        if (pattern != null) {
            if (!pattern.isTextual()) {
                throw invalid("pattern at " + path + " must be a string.");
            }
            if (length || knownFormat != null) {
                throw invalid(
                        "pattern together with minLength/maxLength or format (at " + path + ") is not supported.");
            }
            try {
                out.put("pattern", PatternGuard.normalize(pattern.asText()));
            } catch (IllegalArgumentException e) {
                throw invalid("pattern at " + path + " is not supported: " + e.getMessage());
            }
            return true;
        }
        if (knownFormat != null) {
            if (length) {
                throw invalid("format together with minLength/maxLength (at " + path + ") is not supported.");
            }
            out.put("format", knownFormat);
            any = true;
        }
        if (length) {
            if (minLength != null && maxLength != null && minLength > maxLength) {
                throw invalid("minLength is greater than maxLength at " + path + ".");
            }
            if (minLength != null) {
                out.put("minLength", minLength);
            }
            if (maxLength != null) {
                out.put("maxLength", maxLength);
            }
            any = true;
        }
        return any;
    }

    private void numberKeywords(JsonNode node, ObjectNode out, String path, Set<String> types) {
        JsonNode minimum = node.get("minimum");
        JsonNode maximum = node.get("maximum");
        JsonNode exclusiveMinimum = node.get("exclusiveMinimum");
        JsonNode exclusiveMaximum = node.get("exclusiveMaximum");
        if (minimum == null && maximum == null && exclusiveMinimum == null && exclusiveMaximum == null) {
            return;
        }
        if (!types.contains("integer") || types.contains("number")) {
            throw invalid("minimum/maximum (at " + path + ") are supported for \"type\": \"integer\" only.");
        }
        BigDecimal low = null;
        BigDecimal high = null;
        if (minimum != null) {
            low = number(minimum, "minimum", path).setScale(0, RoundingMode.CEILING);
        }
        if (exclusiveMinimum != null) {
            BigDecimal v = number(exclusiveMinimum, "exclusiveMinimum", path)
                    .setScale(0, RoundingMode.FLOOR)
                    .add(BigDecimal.ONE);
            low = low == null ? v : low.max(v);
        }
        if (maximum != null) {
            high = number(maximum, "maximum", path).setScale(0, RoundingMode.FLOOR);
        }
        if (exclusiveMaximum != null) {
            BigDecimal v = number(exclusiveMaximum, "exclusiveMaximum", path)
                    .setScale(0, RoundingMode.CEILING)
                    .subtract(BigDecimal.ONE);
            high = high == null ? v : high.min(v);
        }
        BigDecimal limit = BigDecimal.valueOf(MAX_INTEGER);
        // Always both bounds: the converter's one-sided forms can allow leading zeros.
        low = low == null ? limit.negate() : low;
        high = high == null ? limit : high;
        if (low.abs().compareTo(limit) > 0 || high.abs().compareTo(limit) > 0) {
            throw invalid("Integer bounds at " + path + " must lie within ±" + MAX_INTEGER + ".");
        }
        if (low.compareTo(high) > 0) {
            throw invalid("No integer satisfies the bounds at " + path + ".");
        }
        out.put("minimum", low.longValueExact());
        out.put("maximum", high.longValueExact());
    }

    private static BigDecimal number(JsonNode value, String name, String path) {
        if (!value.isNumber()) {
            throw invalid(name + " at " + path + " must be a number.");
        }
        return value.decimalValue();
    }

    private static Long count(JsonNode node, String name, String path) {
        JsonNode value = node.get(name);
        if (value == null) {
            return null;
        }
        if (!value.isIntegralNumber() || value.asLong() < 0 || value.asLong() > MAX_REPEAT) {
            throw invalid(name + " at " + path + " must be an integer from 0 to " + MAX_REPEAT + ".");
        }
        return value.asLong();
    }

    private static Set<String> types(JsonNode type, String path) {
        if (type == null) {
            return Collections.emptySet();
        }
        Set<String> types = new LinkedHashSet<>();
        if (type.isTextual()) {
            types.add(type.asText());
        } else if (type.isArray() && !type.isEmpty()) {
            for (JsonNode t : type) {
                if (!t.isTextual() || !types.add(t.asText())) {
                    throw invalid("type at " + path + " must list distinct type names.");
                }
            }
        } else {
            throw invalid("type at " + path + " must be a type name or an array of them.");
        }
        for (String t : types) {
            if (!TYPES.contains(t)) {
                throw invalid("Unknown type '" + t + "' at " + path + ".");
            }
        }
        return types;
    }

    private static void onlyAnnotationsBeside(JsonNode node, String path, String keyword, String... allowed) {
        Set<String> constraints = Set.of(
                "type",
                "$ref",
                "anyOf",
                "oneOf",
                "const",
                "enum",
                "properties",
                "required",
                "additionalProperties",
                "items",
                "prefixItems",
                "minItems",
                "maxItems",
                "pattern",
                "minLength",
                "maxLength",
                "minimum",
                "maximum",
                "exclusiveMinimum",
                "exclusiveMaximum",
                "uniqueItems");
        for (var names = node.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!name.equals(keyword)
                    && constraints.contains(name)
                    && !List.of(allowed).contains(name)) {
                throw invalid("'" + name + "' beside '" + keyword + "' (at " + path + ") is not supported.");
            }
        }
    }

    /** Resolves every $ref the way the converter does (plain '/' split from the root) onto a schema. */
    private void checkRefs(ObjectNode root) {
        for (Ref ref : refs) {
            JsonNode target = root;
            String[] tokens = ref.pointer().substring(1).split("/", -1);
            for (int i = 1; i < tokens.length && target != null; i++) {
                if (target.isObject()) {
                    target = target.get(tokens[i]);
                } else if (target.isArray()) {
                    try {
                        target = target.get(Integer.parseInt(tokens[i]));
                    } catch (NumberFormatException e) {
                        target = null;
                    }
                } else {
                    target = null;
                }
            }
            if (!(target instanceof ObjectNode object) || !schemaNodes.containsKey(object)) {
                throw invalid("$ref \"" + ref.pointer() + "\" at " + ref.path() + " does not point at a schema.");
            }
            targets.put(ref.node(), object);
        }
    }

    /**
     * A schema that reaches itself through {@code $ref}, {@code anyOf} or {@code oneOf} alone ({@code a: {$ref: a}},
     * {@code a: {anyOf: [{$ref: a}, ...]}}) becomes a left-recursive grammar rule, which llama.cpp refuses when
     * sampling starts and then ignores: the output would be unconstrained. Recursion through a property or an
     * item is fine (an opening brace or bracket comes first).
     */
    private void checkNoLeftRecursion() {
        Map<ObjectNode, Boolean> done = new IdentityHashMap<>();
        List<ObjectNode> inPathOrder = new ArrayList<>(schemaNodes.keySet());
        inPathOrder.sort(Comparator.comparing(schemaNodes::get));
        for (ObjectNode node : inPathOrder) {
            leftRecursion(node, done, new ArrayList<>());
        }
    }

    private void leftRecursion(ObjectNode node, Map<ObjectNode, Boolean> done, List<ObjectNode> trail) {
        Boolean finished = done.get(node);
        if (finished != null) {
            if (!finished) {
                // By identity: two schemas written alike are equal ObjectNodes.
                int start = trail.size() - 1;
                while (trail.get(start) != node) {
                    start--;
                }
                List<String> cycle = new ArrayList<>();
                for (ObjectNode step : trail.subList(start, trail.size())) {
                    cycle.add(schemaNodes.get(step));
                }
                cycle.add(schemaNodes.get(node));
                throw invalid("The schema at " + cycle.getFirst() + " is defined by itself before any JSON value"
                        + " begins (" + String.join(" -> ", cycle) + "): it has no grammar. Recursion must go"
                        + " through a property or an array item.");
            }
            return;
        }
        done.put(node, false);
        trail.add(node);
        for (ObjectNode next : leading(node)) {
            leftRecursion(next, done, trail);
        }
        trail.removeLast();
        done.put(node, true);
    }

    /** The schemas a value of this one starts with, without any text of its own before them. */
    private List<ObjectNode> leading(ObjectNode node) {
        if (node.has("$ref")) {
            return List.of(targets.get(node));
        }
        for (String union : List.of("anyOf", "oneOf")) {
            if (node.has(union)) {
                return alternatives(node.get(union));
            }
        }
        return List.of();
    }

    /**
     * Every schema the root can reach must have a finite value: {@code {"properties": {"next": {"$ref": "#"}},
     * "required": ["next"]}} has none, and its grammar would generate until max tokens. Such a schema is
     * refused, naming the first one found (breadth first from the root).
     */
    private void checkFinite(ObjectNode root) {
        // Least fixpoint, in time linear in the schema: a schema is looked at again only when one it contains
        // turns out to have a finite value (a pass over all of them per step was quadratic: 40-60 ms of a
        // caller's thread for a 64 KB chain of references).
        Map<ObjectNode, List<ObjectNode>> containedBy = new IdentityHashMap<>();
        ArrayDeque<ObjectNode> found = new ArrayDeque<>();
        Set<ObjectNode> finite = Collections.newSetFromMap(new IdentityHashMap<>());
        for (ObjectNode node : schemaNodes.keySet()) {
            for (ObjectNode child : children(node)) {
                containedBy.computeIfAbsent(child, c -> new ArrayList<>()).add(node);
            }
            if (hasFiniteValue(node, finite)) {
                found.add(node);
            }
        }
        while (!found.isEmpty()) {
            ObjectNode node = found.removeFirst();
            if (!finite.add(node)) {
                continue;
            }
            for (ObjectNode parent : containedBy.getOrDefault(node, List.of())) {
                if (!finite.contains(parent) && hasFiniteValue(parent, finite)) {
                    found.addLast(parent);
                }
            }
        }
        Set<ObjectNode> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        ArrayDeque<ObjectNode> queue = new ArrayDeque<>(List.of(root));
        seen.add(root);
        while (!queue.isEmpty()) {
            ObjectNode node = queue.removeFirst();
            if (!finite.contains(node)) {
                throw invalid("The schema at " + schemaNodes.get(node) + " has no finite value: each of its values"
                        + " would have to contain another one (through required properties, minItems or tuple"
                        + " items).");
            }
            for (ObjectNode child : children(node)) {
                if (seen.add(child)) {
                    queue.addLast(child);
                }
            }
        }
    }

    /** Whether a value of this schema can be written with values only of schemas already known to have one. */
    private boolean hasFiniteValue(ObjectNode node, Set<ObjectNode> finite) {
        if (node.has("$ref")) {
            return finite.contains(targets.get(node));
        }
        for (String union : List.of("anyOf", "oneOf")) {
            if (node.has(union)) {
                return alternatives(node.get(union)).stream().anyMatch(finite::contains);
            }
        }
        if (node.has("const") || node.has("enum")) {
            return true;
        }
        JsonNode type = node.get("type");
        List<String> types = new ArrayList<>();
        if (type.isArray()) {
            type.forEach(t -> types.add(t.asText()));
        } else {
            types.add(type.asText());
        }
        for (String t : types) {
            boolean possible = switch (t) {
                case "object" -> {
                    JsonNode properties = node.path("properties");
                    boolean all = true;
                    for (JsonNode name : node.path("required")) {
                        all &= finite.contains((ObjectNode) properties.get(name.asText()));
                    }
                    yield all;
                }
                case "array" -> {
                    JsonNode tuple = node.has("prefixItems") ? node.get("prefixItems") : node.get("items");
                    if (tuple != null && tuple.isArray()) {
                        yield alternatives(tuple).stream().allMatch(finite::contains);
                    }
                    yield tuple == null || node.path("minItems").asLong() == 0 || finite.contains((ObjectNode) tuple);
                }
                default -> true;
            };
            if (possible) {
                return true;
            }
        }
        return false;
    }

    /** The schemas a value of this one may contain, or stand for ($ref, anyOf, oneOf). */
    private List<ObjectNode> children(ObjectNode node) {
        List<ObjectNode> children = new ArrayList<>(leading(node));
        node.path("properties").forEach(child -> children.add((ObjectNode) child));
        for (String key : List.of("additionalProperties", "items", "prefixItems")) {
            JsonNode value = node.get(key);
            if (value instanceof ObjectNode child) {
                children.add(child);
            } else if (value != null && value.isArray()) {
                children.addAll(alternatives(value));
            }
        }
        return children;
    }

    private static List<ObjectNode> alternatives(JsonNode list) {
        List<ObjectNode> out = new ArrayList<>();
        list.forEach(alternative -> out.add((ObjectNode) alternative));
        return out;
    }

    /**
     * The converter resolves only {@code #/...} pointers; OpenAI's structured outputs also take {@code "#"}, the
     * root itself (a tree of nodes, say). For those the root's schema moves under {@code $defs} (its
     * definitions stay at the root), the root becomes a {@code $ref} to it, and every pointer into it is
     * rewritten: the same schema in a form the converter takes.
     */
    private ObjectNode rootReferencesMoved(ObjectNode root) {
        if (refs.stream().noneMatch(ref -> ref.pointer().equals("#"))) {
            return root;
        }
        ObjectNode moved = JsonNodeFactory.instance.objectNode();
        for (String defs : List.of("$defs", "definitions")) {
            if (root.has(defs)) {
                moved.set(defs, root.remove(defs));
            }
        }
        ObjectNode definitions = moved.has("$defs") ? (ObjectNode) moved.get("$defs") : moved.putObject("$defs");
        String name = ROOT_DEFINITION;
        for (int i = 2; definitions.has(name); i++) {
            name = ROOT_DEFINITION + "-" + i;
        }
        definitions.set(name, root);
        String prefix = "#/$defs/" + name;
        for (Ref ref : refs) {
            String pointer = ref.pointer();
            boolean intoDefinitions = pointer.startsWith("#/$defs/") || pointer.startsWith("#/definitions/");
            if (!intoDefinitions) {
                ref.node().put("$ref", prefix + pointer.substring(1));
            }
        }
        moved.put("$ref", prefix);
        return moved;
    }

    private static Iterable<Map.Entry<String, JsonNode>> iterable(JsonNode node) {
        return new ArrayList<>(node.properties());
    }

    private static io.flatfare.inference.engine.InvalidRequestException invalid(String message) {
        return new io.flatfare.inference.engine.InvalidRequestException(PARAM, message);
    }

    /**
     * Regular expressions for {@code pattern}: the subset the converter turns into a correct grammar, re-emitted
     * in the form it handles. Supported: literals, {@code .}, classes {@code [a-z0-9_]} / {@code [^...]} (no
     * escapes inside), groups {@code (...)}, alternation, quantifiers {@code * + ? {n} {n,} {n,m}} (n, m ≤ 1000),
     * escapes of metacharacters, {@code \n \t \r \\ \"} and the classes {@code \d \w \s \D \W \S}. The pattern must
     * start with {@code ^} and end with {@code $} (the converter's rule).
     *
     * <p>Two converter defects are worked around. It copies pattern characters into the JSON string raw, so a
     * {@code "}, a backslash or a control character would end the string or make it invalid JSON: literal ones are
     * rewritten as their JSON escape sequences (so the decoded string still matches), and {@code .}, negated
     * classes and ranges never produce them (a subset of what the regex allows). And a repeated sub-pattern that
     * can match the empty string ({@code (a*)*}, {@code (a|)+}) sends llama.cpp's grammar engine into unbounded
     * recursion (SIGSEGV): such patterns are refused.
     */
    static final class PatternGuard {

        private static final String META = "^$.[]()|{}*+?";
        private static final String PLAIN_ESCAPES = "-/':,#&~=!<>@%`;_ ";
        private static final int MAX_GROUP_DEPTH = 10;
        private static final int MAX_TIMES = 1_000;
        /** What a JSON string cannot hold raw: control characters, '"', '\' (and DEL, as the converter's char rule). */
        private static final int[][] FORBIDDEN = {{0x00, 0x1F}, {'"', '"'}, {'\\', '\\'}, {0x7F, 0x7F}};

        private static final String FORBIDDEN_CLASS = "\"\\\\\\x00-\\x1F\\x7F";
        /** {@code .}: as in Java and JavaScript, no line terminator; and nothing a JSON string must escape. */
        private static final String DOT = "[^" + FORBIDDEN_CLASS + "\\x85\\u2028\\u2029]";

        private final String body;
        private int i;
        private int depth;

        private PatternGuard(String body) {
            this.body = body;
        }

        static String normalize(String pattern) {
            if (pattern.length() > MAX_PATTERN) {
                throw new IllegalArgumentException("longer than " + MAX_PATTERN + " characters");
            }
            if (pattern.length() < 2 || pattern.charAt(0) != '^' || pattern.charAt(pattern.length() - 1) != '$') {
                throw new IllegalArgumentException("it must start with ^ and end with $");
            }
            String body = pattern.substring(1, pattern.length() - 1);
            int backslashes = 0;
            for (int k = body.length() - 1; k >= 0 && body.charAt(k) == '\\'; k--) {
                backslashes++;
            }
            if (backslashes % 2 == 1) {
                throw new IllegalArgumentException("it must end with an unescaped $");
            }
            PatternGuard guard = new PatternGuard(body);
            Part result = guard.alternation();
            if (guard.i != body.length()) {
                throw new IllegalArgumentException("unbalanced ')' at " + (guard.i + 1));
            }
            return "^" + result.text + "$";
        }

        /** Pattern text, whether it is a plain literal run (the converter merges those), whether it matches "". */
        private record Part(String text, boolean literal, boolean nullable) {}

        private Part alternation() {
            Part first = sequence();
            StringBuilder out = new StringBuilder(first.text);
            boolean nullable = first.nullable;
            while (i < body.length() && body.charAt(i) == '|') {
                i++;
                Part next = sequence();
                out.append('|').append(next.text);
                nullable |= next.nullable;
            }
            return new Part(out.toString(), false, nullable);
        }

        private Part sequence() {
            StringBuilder out = new StringBuilder();
            boolean nullable = true;
            while (i < body.length() && body.charAt(i) != '|' && body.charAt(i) != ')') {
                Part atom = atom();
                String quantifier = quantifier();
                if (quantifier.isEmpty()) {
                    out.append(atom.text);
                    nullable &= atom.nullable;
                    continue;
                }
                if (atom.nullable && !quantifier.equals("?")) {
                    throw new IllegalArgumentException(
                            "a repeated part that can match the empty string is not supported: " + atom.text
                                    + quantifier);
                }
                // A quantified literal is grouped: the converter otherwise quantifies a whole literal run (a\.+ ->
                // (a.)+) or a single byte of a multi-byte character.
                out.append(atom.literal ? "(" + atom.text + ")" : atom.text).append(quantifier);
                nullable &= atom.nullable
                        || quantifier.equals("?")
                        || quantifier.startsWith("{0")
                        || quantifier.equals("*");
            }
            return new Part(out.toString(), false, nullable);
        }

        private Part atom() {
            char c = body.charAt(i);
            switch (c) {
                case '(' -> {
                    i++;
                    if (i < body.length() && body.charAt(i) == '?') {
                        throw new IllegalArgumentException("(? groups are not supported");
                    }
                    if (++depth > MAX_GROUP_DEPTH) {
                        throw new IllegalArgumentException("groups nested deeper than " + MAX_GROUP_DEPTH);
                    }
                    Part inner = alternation();
                    depth--;
                    if (i >= body.length() || body.charAt(i) != ')') {
                        throw new IllegalArgumentException("unbalanced '('");
                    }
                    i++;
                    if (inner.text.isEmpty()) {
                        throw new IllegalArgumentException("empty group");
                    }
                    return new Part("(" + inner.text + ")", false, inner.nullable);
                }
                case '[' -> {
                    return new Part(characterClass(), false, false);
                }
                case '.' -> {
                    i++;
                    return new Part(DOT, false, false);
                }
                case '\\' -> {
                    return escape();
                }
                case '*', '+', '?', '{' ->
                    throw new IllegalArgumentException("'" + c + "' at " + (i + 1) + " quantifies nothing");
                case ']', '}' -> throw new IllegalArgumentException("unbalanced '" + c + "' at " + (i + 1));
                case '^', '$' ->
                    throw new IllegalArgumentException("anchors are only allowed at the start and the end");
                case '"' -> {
                    i++;
                    return jsonEscape('"');
                }
                default -> {
                    checkPrintable(c);
                    if (Character.isSurrogate(c)) {
                        if (!Character.isHighSurrogate(c)
                                || i + 1 >= body.length()
                                || !Character.isLowSurrogate(body.charAt(i + 1))) {
                            throw new IllegalArgumentException("invalid UTF-16");
                        }
                        i += 2;
                        return new Part(body.substring(i - 2, i), true, false);
                    }
                    i++;
                    return new Part(String.valueOf(c), true, false);
                }
            }
        }

        private Part escape() {
            if (i + 1 >= body.length()) {
                throw new IllegalArgumentException("dangling backslash");
            }
            char c = body.charAt(i + 1);
            i += 2;
            return switch (c) {
                case 'd' -> new Part("[0-9]", false, false);
                case 'D' -> new Part("[^0-9" + FORBIDDEN_CLASS + "]", false, false);
                case 'w' -> new Part("[a-zA-Z0-9_]", false, false);
                case 'W' -> new Part("[^a-zA-Z0-9_" + FORBIDDEN_CLASS + "]", false, false);
                case 's' -> new Part("( |\\\\t|\\\\n|\\\\r)", false, false);
                case 'S' -> new Part("[^ " + FORBIDDEN_CLASS + "]", false, false);
                case 'n' -> jsonEscape('\n');
                case 't' -> jsonEscape('\t');
                case 'r' -> jsonEscape('\r');
                case '\\' -> jsonEscape('\\');
                case '"' -> jsonEscape('"');
                default -> {
                    if (META.indexOf(c) >= 0) {
                        yield new Part("\\" + c, true, false);
                    }
                    if (PLAIN_ESCAPES.indexOf(c) >= 0) {
                        yield new Part(String.valueOf(c), true, false);
                    }
                    throw new IllegalArgumentException("the escape \\" + c + " is not supported");
                }
            };
        }

        /**
         * A character a JSON string must escape, as the two characters of its escape ({@code \"}, {@code \\},
         * {@code \n}...): in the pattern an escaped backslash (the converter emits a backslash) and the letter.
         */
        private static Part jsonEscape(char c) {
            String letter = switch (c) {
                case '"' -> "\"";
                case '\\' -> "\\\\";
                case '\n' -> "n";
                case '\t' -> "t";
                case '\r' -> "r";
                default -> throw new IllegalArgumentException("unexpected " + (int) c);
            };
            return new Part("(\\\\" + letter + ")", false, false);
        }

        /** A class as code point ranges, without what a JSON string cannot hold raw, in GBNF escapes. */
        private String characterClass() {
            i++;
            boolean negated = i < body.length() && body.charAt(i) == '^';
            if (negated) {
                i++;
            }
            List<int[]> ranges = new ArrayList<>();
            while (i < body.length() && body.charAt(i) != ']') {
                int from = codePoint();
                int to = from;
                if (i + 1 < body.length() && body.charAt(i) == '-' && body.charAt(i + 1) != ']') {
                    i++;
                    to = codePoint();
                    if (to < from) {
                        throw new IllegalArgumentException("reversed range in [...]");
                    }
                }
                ranges.add(new int[] {from, to});
            }
            if (i >= body.length()) {
                throw new IllegalArgumentException("unbalanced '['");
            }
            i++;
            if (ranges.isEmpty()) {
                throw new IllegalArgumentException("empty character class");
            }
            StringBuilder out = new StringBuilder("[");
            if (negated) {
                out.append('^');
                ranges.forEach(r -> appendRange(out, r[0], r[1]));
                out.append(FORBIDDEN_CLASS);
            } else {
                List<int[]> allowed = subtractForbidden(ranges);
                if (allowed.isEmpty()) {
                    throw new IllegalArgumentException("a class of only characters a JSON string must escape");
                }
                allowed.forEach(r -> appendRange(out, r[0], r[1]));
            }
            return out.append(']').toString();
        }

        private int codePoint() {
            char c = body.charAt(i);
            if (c == '\\') {
                throw new IllegalArgumentException("escapes inside [...] are not supported");
            }
            checkPrintable(c);
            int cp = body.codePointAt(i);
            if (Character.isSurrogate(c) && Character.charCount(cp) == 1) {
                throw new IllegalArgumentException("invalid UTF-16");
            }
            i += Character.charCount(cp);
            return cp;
        }

        private static List<int[]> subtractForbidden(List<int[]> ranges) {
            List<int[]> current = new ArrayList<>(ranges);
            for (int[] cut : FORBIDDEN) {
                List<int[]> next = new ArrayList<>();
                for (int[] r : current) {
                    if (r[1] < cut[0] || r[0] > cut[1]) {
                        next.add(r);
                        continue;
                    }
                    if (r[0] < cut[0]) {
                        next.add(new int[] {r[0], cut[0] - 1});
                    }
                    if (r[1] > cut[1]) {
                        next.add(new int[] {cut[1] + 1, r[1]});
                    }
                }
                current = next;
            }
            return current;
        }

        private static void appendRange(StringBuilder out, int from, int to) {
            appendClassChar(out, from);
            if (to != from) {
                out.append('-');
                appendClassChar(out, to);
            }
        }

        /** Letters and digits as they are; anything else as a GBNF escape (no class metacharacter can leak). */
        private static void appendClassChar(StringBuilder out, int cp) {
            if (cp < 0x80 && Character.isLetterOrDigit(cp)) {
                out.appendCodePoint(cp);
            } else if (cp <= 0xFF) {
                out.append(String.format("\\x%02X", cp));
            } else if (cp <= 0xFFFF) {
                out.append(String.format("\\u%04X", cp));
            } else {
                out.append(String.format("\\U%08X", cp));
            }
        }

        private String quantifier() {
            if (i >= body.length()) {
                return "";
            }
            char c = body.charAt(i);
            String quantifier;
            if (c == '*' || c == '+' || c == '?') {
                i++;
                quantifier = String.valueOf(c);
            } else if (c == '{') {
                int close = body.indexOf('}', i);
                if (close < 0) {
                    throw new IllegalArgumentException("unbalanced '{'");
                }
                String inside = body.substring(i + 1, close);
                if (!inside.matches("[0-9]{1,4}(,[0-9]{0,4})?")) {
                    throw new IllegalArgumentException("repetition {" + inside + "} is not supported");
                }
                String[] parts = inside.split(",", -1);
                int min = Integer.parseInt(parts[0]);
                int max = parts.length == 1 ? min : parts[1].isEmpty() ? -1 : Integer.parseInt(parts[1]);
                if (min > MAX_TIMES || max > MAX_TIMES || (max >= 0 && max < min) || max == 0) {
                    throw new IllegalArgumentException("repetition {" + inside + "} is out of range");
                }
                i = close + 1;
                quantifier = "{" + inside + "}";
            } else {
                return "";
            }
            if (i < body.length() && "*+?{".indexOf(body.charAt(i)) >= 0) {
                throw new IllegalArgumentException("lazy, possessive or stacked quantifiers are not supported");
            }
            return quantifier;
        }

        private static void checkPrintable(char c) {
            if (c < 0x20 || c == 0x7F) {
                throw new IllegalArgumentException("control characters must be escaped (\\n, \\t, \\r)");
            }
        }
    }
}
