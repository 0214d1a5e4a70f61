package io.flatfare.inference.engine.llamacpp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import de.kherud.llama.LlamaModel;
import io.flatfare.inference.engine.InvalidRequestException;
import io.flatfare.inference.engine.llamacpp.JsonSchemaGuard.PatternGuard;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The schema guard: what it accepts converts in llama.cpp (every accepted schema below really goes through
 * {@code jsonSchemaToGrammar}: if one crashed, this JVM would die), what it rejects never reaches native code.
 */
class JsonSchemaGuardTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void nativeLibrary() {
        TestModels.prepareNative();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "{\"type\": \"object\"}",
                "{}",
                "{\"description\": \"anything\"}",
                "{\"type\": \"object\", \"properties\": {\"a\": {}, \"b\": {\"title\": \"B\"}}}",
                "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"}, \"age\": {\"type\": \"integer\"}},"
                        + " \"required\": [\"name\", \"age\"], \"additionalProperties\": false}",
                "{\"type\": [\"string\", \"null\"], \"maxLength\": 3}",
                "{\"$defs\": {\"p\": {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"integer\", \"minimum\": -5,"
                        + " \"maximum\": 12}}, \"required\": [\"x\"]}}, \"type\": \"object\", \"properties\":"
                        + " {\"p\": {\"$ref\": \"#/$defs/p\"}}, \"required\": [\"p\"]}",
                "{\"definitions\": {\"node\": {\"type\": \"object\", \"properties\": {\"next\": {\"anyOf\": [{\"$ref\":"
                        + " \"#/definitions/node\"}, {\"type\": \"null\"}]}}}}, \"$ref\": \"#/definitions/node\"}",
                "{\"type\": \"array\", \"items\": {\"enum\": [\"a\", \"b\", 3, null]}, \"minItems\": 1, \"maxItems\": 3}",
                "{\"type\": \"array\", \"minItems\": 2}",
                "{\"type\": \"array\", \"prefixItems\": [{\"type\": \"string\"}, {\"const\": true}]}",
                "{\"type\": \"array\", \"items\": [{\"type\": \"number\"}, {\"type\": \"boolean\"}]}",
                "{\"type\": \"string\", \"pattern\": \"^[a-z]{2,4}(-[0-9]+)?|x\\\\.y$\"}",
                "{\"type\": \"string\", \"pattern\": \"^\\\\d{3}-\\\\w+\\\\s?\\\\S*$\"}",
                "{\"type\": \"string\", \"pattern\": \"^a\\\\.+b\\\\-c\\\\/d$\"}",
                "{\"type\": \"string\", \"pattern\": \"^é+(ü|ö){2}\\\"q\\\"$\"}",
                "{\"type\": \"string\", \"pattern\": \"^a|$\"}",
                "{\"type\": \"string\", \"format\": \"date-time\"}",
                "{\"type\": \"string\", \"format\": \"uuid\"}",
                "{\"type\": \"string\", \"format\": \"email\", \"minLength\": 3}",
                "{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"null\"}], \"title\": \"maybe\"}",
                "{\"oneOf\": [{\"type\": \"integer\", \"exclusiveMinimum\": 0}, {\"const\": \"none\"}]}",
                "{\"type\": \"integer\", \"minimum\": 5}",
                "{\"type\": \"integer\", \"exclusiveMaximum\": -3}",
                "{\"type\": \"integer\", \"minimum\": 1.5, \"maximum\": 3.5}",
                "{\"type\": \"object\", \"additionalProperties\": {\"type\": \"integer\"}}",
                "{\"additionalProperties\": true}",
                "{\"properties\": {\"root\": {\"type\": \"string\"}, \"space\": {\"type\": \"string\"},"
                        + " \"we ird\\\"key\": {\"type\": \"boolean\"}}}",
                "{\"type\": \"object\", \"x-vendor\": 1, \"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
                        + " \"properties\": {\"ok\": {\"type\": \"boolean\", \"default\": true, \"examples\": [true]}}}",
                "{\"minLength\": 2}",
                "{\"type\": \"array\", \"uniqueItems\": false, \"items\": {\"type\": \"string\"}}",
                "{\"const\": {\"nested\": [1, 2, {\"a\": \"b\"}]}}",
                // Recursion: through the root ("#", as OpenAI's structured outputs take it) or a definition, by a
                // property or an item, with a way to stop (an optional property, an empty array, null).
                "{\"type\": \"object\", \"properties\": {\"label\": {\"type\": \"string\"}, \"children\": {\"type\":"
                        + " \"array\", \"items\": {\"$ref\": \"#\"}}}, \"required\": [\"label\", \"children\"],"
                        + " \"additionalProperties\": false}",
                "{\"type\": \"object\", \"properties\": {\"next\": {\"anyOf\": [{\"$ref\": \"#\"}, {\"type\": \"null\"}]}},"
                        + " \"required\": [\"next\"]}",
                "{\"$defs\": {\"flatfare-root\": {\"type\": \"integer\"}}, \"type\": \"object\", \"properties\":"
                        + " {\"n\": {\"$ref\": \"#/$defs/flatfare-root\"}, \"up\": {\"$ref\": \"#\"}, \"same\": {\"$ref\":"
                        + " \"#/properties/n\"}}}",
                "{\"type\": \"array\", \"items\": {\"anyOf\": [{\"type\": \"integer\"}, {\"$ref\": \"#\"}]}, \"maxItems\": 3}",
                "{\"$defs\": {\"a\": {\"type\": \"object\", \"properties\": {\"b\": {\"$ref\": \"#/$defs/b\"}}},"
                        + " \"b\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/a\"}, \"minItems\": 1}}, \"$ref\":"
                        + " \"#/$defs/b\"}"
            })
    void acceptedSchemasConvertInLlamaCpp(String schema) throws Exception {
        String normalized = JsonSchemaGuard.normalize(schema);

        assertThat(JSON.readTree(normalized).isObject()).isTrue();
        String grammar = LlamaModel.jsonSchemaToGrammar(normalized);
        assertThat(grammar).contains("root ::=");
        // The grammars llama.cpp would mis-parse (and then ignore) have these: never produced.
        assertThat(grammar).doesNotContain("\\d").doesNotContain("\\w");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "not json",
                "[1, 2]",
                "\"string\"",
                "{\"type\": \"object\"} trailing",
                "{\"a\": 1, \"a\": 2}",
                "{\"type\": \"foo\"}",
                "{\"type\": []}",
                "{\"type\": [\"string\", \"string\"]}",
                "{\"type\": 5}",
                "{\"type\": \"string\", \"format\": 5}",
                "{\"$ref\": \"#/nope\"}",
                "{\"$ref\": \"#\"}",
                "{\"$ref\": \"https://example.com/schema.json\"}",
                "{\"$ref\": 3}",
                "{\"$defs\": {\"a\": {\"type\": \"string\"}}, \"$ref\": \"#/$defs\"}",
                "{\"$ref\": \"#/$defs/a\", \"type\": \"string\", \"$defs\": {\"a\": {}}}",
                "{\"type\": \"array\", \"items\": true}",
                "{\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"prefixItems\": [{}]}",
                "{\"type\": \"array\", \"items\": [{}], \"minItems\": 1}",
                "{\"type\": \"array\", \"minItems\": \"2\"}",
                "{\"type\": \"array\", \"minItems\": 3, \"maxItems\": 2, \"items\": {}}",
                "{\"type\": \"array\", \"uniqueItems\": true}",
                "{\"type\": \"string\", \"minLength\": 5, \"maxLength\": 3}",
                "{\"type\": \"string\", \"minLength\": -1}",
                "{\"type\": \"string\", \"maxLength\": 1000000}",
                "{\"type\": \"string\", \"pattern\": \"abc\"}",
                "{\"type\": \"string\", \"pattern\": 5}",
                "{\"type\": \"string\", \"pattern\": \"^a$\", \"maxLength\": 3}",
                "{\"type\": \"string\", \"format\": \"date\", \"maxLength\": 3}",
                "{\"type\": \"number\", \"minimum\": 0}",
                "{\"minimum\": 0}",
                "{\"type\": \"integer\", \"minimum\": 10, \"maximum\": 1}",
                "{\"type\": \"integer\", \"maximum\": 1e30}",
                "{\"type\": \"integer\", \"exclusiveMinimum\": true}",
                "{\"type\": \"integer\", \"multipleOf\": 2}",
                "{\"allOf\": [{\"type\": \"string\"}]}",
                "{\"not\": {\"type\": \"string\"}}",
                "{\"if\": {}, \"then\": {}}",
                "{\"type\": \"object\", \"patternProperties\": {\"^a\": {}}}",
                "{\"type\": \"object\", \"properties\": {\"\": {}}}",
                "{\"type\": \"object\", \"properties\": {\"a\": true}}",
                "{\"type\": \"object\", \"properties\": {\"a\": {}}, \"required\": [\"b\"]}",
                "{\"type\": \"object\", \"required\": \"a\"}",
                "{\"type\": \"object\", \"additionalProperties\": 3}",
                "{\"anyOf\": []}",
                "{\"anyOf\": [{}], \"oneOf\": [{}]}",
                "{\"anyOf\": [{\"type\": \"string\"}], \"type\": \"string\"}",
                "{\"enum\": []}",
                "{\"enum\": 3}",
                "{\"minLength\": 2, \"minItems\": 1}",
                "{\"$ref\": \"#/\"}"
            })
    void rejectedSchemasAreInvalidResponseFormats(String schema) {
        assertThatThrownBy(() -> JsonSchemaGuard.normalize(schema))
                .isInstanceOfSatisfying(
                        InvalidRequestException.class,
                        e -> assertThat(e.param()).isEqualTo("response_format"));
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "{\"$ref\": \"#\"}",
                "{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/a\"}}, \"$ref\": \"#/$defs/a\"}",
                "{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"}, \"b\": {\"$ref\": \"#/$defs/a\"}}, \"type\": \"string\"}",
                "{\"$defs\": {\"a\": {\"anyOf\": [{\"$ref\": \"#/$defs/a\"}, {\"type\": \"integer\"}]}},"
                        + " \"$ref\": \"#/$defs/a\"}",
                "{\"oneOf\": [{\"type\": \"integer\"}, {\"$ref\": \"#\"}]}",
                "{\"type\": \"object\", \"properties\": {\"x\": {\"anyOf\": [{\"type\": \"null\"}, {\"$ref\":"
                        + " \"#/properties/x\"}]}}}",
            })
    void schemasDefinedByThemselvesAreRejected(String schema) {
        // As a grammar each is a left-recursive rule: llama.cpp refuses it when sampling starts and then samples
        // without it, so the output would not be JSON at all.
        assertThatThrownBy(() -> JsonSchemaGuard.normalize(schema))
                .isInstanceOfSatisfying(InvalidRequestException.class, e -> {
                    assertThat(e.param()).isEqualTo("response_format");
                    assertThat(e.getMessage()).contains("is defined by itself before any JSON value begins");
                });
    }

    @Test
    void theRefusalNamesTheCycle() {
        assertThatThrownBy(() -> JsonSchemaGuard.normalize("{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"}, \"b\":"
                        + " {\"anyOf\": [{\"type\": \"null\"}, {\"$ref\": \"#/$defs/a\"}]}}, \"$ref\": \"#/$defs/a\"}"))
                .hasMessageContaining("(#/$defs/a -> #/$defs/b -> #/$defs/b/anyOf/1 -> #/$defs/a)");
        // Written alike, told apart: a and b are equal JSON, the cycle is b's alone.
        assertThatThrownBy(() -> JsonSchemaGuard.normalize("{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"}, \"b\":"
                        + " {\"$ref\": \"#/$defs/b\"}}, \"$ref\": \"#/$defs/a\"}"))
                .hasMessageContaining("(#/$defs/b -> #/$defs/b)");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "{\"type\": \"object\", \"properties\": {\"next\": {\"$ref\": \"#\"}}, \"required\": [\"next\"]}|#",
                "{\"type\": \"array\", \"items\": {\"$ref\": \"#\"}, \"minItems\": 1}|#",
                "{\"type\": \"array\", \"prefixItems\": [{\"type\": \"integer\"}, {\"$ref\": \"#\"}]}|#",
                "{\"type\": [\"object\", \"array\"], \"properties\": {\"a\": {\"$ref\": \"#\"}}, \"required\":"
                        + " [\"a\"], \"items\": {\"$ref\": \"#\"}, \"minItems\": 2}|#",
                // The root has values, but one it may contain has none: the grammar could start it and never end.
                "{\"$defs\": {\"loop\": {\"type\": \"object\", \"properties\": {\"again\": {\"$ref\":"
                        + " \"#/$defs/loop\"}}, \"required\": [\"again\"]}}, \"type\": \"object\", \"properties\": {\"opt\":"
                        + " {\"$ref\": \"#/$defs/loop\"}}}|#/properties/opt"
            })
    void schemasWithoutAFiniteValueAreRejected(String schemaAndPath) {
        String[] parts = schemaAndPath.split("\\|");
        assertThatThrownBy(() -> JsonSchemaGuard.normalize(parts[0]))
                .isInstanceOfSatisfying(InvalidRequestException.class, e -> {
                    assertThat(e.param()).isEqualTo("response_format");
                    assertThat(e.getMessage()).startsWith("The schema at " + parts[1] + " has no finite value");
                });
    }

    @Test
    void aReferenceToTheRootMovesTheRootUnderDefinitions() throws Exception {
        var normalized = JSON.readTree(JsonSchemaGuard.normalize(
                "{\"$defs\": {\"leaf\": {\"type\": \"string\"}}, \"type\": \"object\", \"properties\": {\"kids\":"
                        + " {\"type\": \"array\", \"items\": {\"$ref\": \"#\"}}, \"name\": {\"$ref\": \"#/$defs/leaf\"},"
                        + " \"alias\": {\"$ref\": \"#/properties/name\"}}}"));

        String root = "#/$defs/" + JsonSchemaGuard.ROOT_DEFINITION;
        assertThat(normalized.get("$ref").asText()).isEqualTo(root);
        var moved = normalized.get("$defs").get(JsonSchemaGuard.ROOT_DEFINITION);
        assertThat(moved.get("type").asText()).isEqualTo("object");
        assertThat(moved.has("$defs")).isFalse();
        assertThat(normalized.get("$defs").get("leaf").get("type").asText()).isEqualTo("string");
        var properties = moved.get("properties");
        assertThat(properties.get("kids").get("items").get("$ref").asText()).isEqualTo(root);
        assertThat(properties.get("name").get("$ref").asText()).isEqualTo("#/$defs/leaf");
        assertThat(properties.get("alias").get("$ref").asText()).isEqualTo(root + "/properties/name");
        // A schema without "#" keeps its form.
        assertThat(JSON.readTree(JsonSchemaGuard.normalize("{\"type\": \"array\", \"items\": {\"$ref\":"
                                + " \"#/$defs/a\"}, \"$defs\": {\"a\": {\"type\": \"null\"}}}"))
                        .has("$ref"))
                .isFalse();
    }

    @Test
    void limitsSizeAndDepth() {
        String deep = "{\"type\": \"array\", \"items\": ".repeat(40) + "{}" + "}".repeat(40);
        assertThatThrownBy(() -> JsonSchemaGuard.normalize(deep))
                .isInstanceOf(InvalidRequestException.class)
                .hasMessageContaining("deeper");
        String big = "{\"enum\": [" + "\"x\",".repeat(40_000) + "\"y\"]}";
        assertThatThrownBy(() -> JsonSchemaGuard.normalize(big))
                .isInstanceOf(InvalidRequestException.class)
                .hasMessageContaining("longer");
    }

    @Test
    void normalisationDropsAnnotationsAndCompletesIntegerBounds() throws Exception {
        var normalized = JSON.readTree(JsonSchemaGuard.normalize(
                "{\"title\": \"T\", \"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\","
                        + " \"exclusiveMinimum\": 0, \"description\": \"d\"}, \"any\": {\"description\": \"x\"}}}"));

        assertThat(normalized.has("title")).isFalse();
        var n = normalized.get("properties").get("n");
        assertThat(n.get("minimum").asLong()).isEqualTo(1);
        assertThat(n.get("maximum").asLong()).isEqualTo(JsonSchemaGuard.MAX_INTEGER);
        assertThat(n.has("description")).isFalse();
        assertThat(normalized.get("properties").get("any").get("type").size()).isEqualTo(6);
    }

    @Test
    void patternsAreRewrittenIntoTheConvertersSubset() {
        assertThat(PatternGuard.normalize("^\\d+$")).isEqualTo("^[0-9]+$");
        assertThat(PatternGuard.normalize("^a\\.+$")).isEqualTo("^a(\\.)+$");
        assertThat(PatternGuard.normalize("^ab*$")).isEqualTo("^a(b)*$");
        assertThat(PatternGuard.normalize("^\\-\\/$")).isEqualTo("^-/$");
        assertThat(PatternGuard.normalize("^[A-Z][a-z]{1,3}$")).isEqualTo("^[A-Z][a-z]{1,3}$");
        // Characters a JSON string must escape: literal ones become their escape, classes and '.' leave them out.
        // (the regex ^"a\\\n$: a quote, a, a backslash, a newline)
        assertThat(PatternGuard.normalize("^\"a\\\\\\n$")).isEqualTo("^(\\\\\")a(\\\\\\\\)(\\\\n)$");
        assertThat(PatternGuard.normalize("^[ -$]$")).isEqualTo("^[\\x20-\\x21\\x23-\\x24]$");
        assertThat(PatternGuard.normalize("^[^a]$")).isEqualTo("^[^a\"\\\\\\x00-\\x1F\\x7F]$");
        // The rewritten pattern means the same as the original.
        for (String pattern : new String[] {"^\\d{2}-\\w+$", "^a\\.+b$", "^(ab|c)?d*$"}) {
            Pattern original = Pattern.compile(pattern);
            Pattern rewritten = Pattern.compile(PatternGuard.normalize(pattern));
            for (String probe : new String[] {"12-abc", "a...b", "abddd", "cd", "", "d", "12-", "ab"}) {
                assertThat(rewritten.matcher(probe).matches())
                        .as(pattern + " on " + probe)
                        .isEqualTo(original.matcher(probe).matches());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "^*$",
                "^+a$",
                "^a**$",
                "^a*?$",
                "^(?:a)$",
                "^(?=a)$",
                "^a]$",
                "^a}$",
                "^[]$",
                "^[a\\]]$",
                "^(a$",
                "^a)$",
                "^()$",
                "^a{99999}$",
                "^a{3,1}$",
                "^a{,3}$",
                "^a^b$",
                "^a$b$",
                "^\\bword$",
                "^\\x41$",
                "^a\\$",
                "a",
                "^a\u0001$",
                "^(((((((((((a)))))))))))$",
                // Repeating what can match "" sends llama.cpp's grammar engine into unbounded recursion (SIGSEGV).
                "^(a*)*$",
                "^(a|)+$",
                "^(a?b?){2,}$",
                "^a{0}$",
                // Only characters a JSON string must escape.
                "^[\"\"]$"
            })
    void unsupportedPatternsAreRejected(String pattern) {
        assertThatThrownBy(() -> PatternGuard.normalize(pattern)).isInstanceOf(IllegalArgumentException.class);
    }
}
