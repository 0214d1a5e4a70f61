package io.flatfare.contracts.events;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class EventSchemasTest {

    private static final Map<Class<?>, Object> EVENTS = Map.of(
            UsageEvent.class, Fixtures.usage().build(),
            RatedUsage.class, Fixtures.rated().build());

    static Stream<Arguments> invalidDocuments() {
        return Stream.of(
                invalid(UsageEvent.class, "missing account_id", n -> n.remove("account_id"), "#", "account_id"),
                invalid(UsageEvent.class, "missing nullable model", n -> n.remove("model"), "#", "\"model\""),
                invalid(
                        UsageEvent.class,
                        "negative token count",
                        n -> n.put("prompt_tokens", -1),
                        "#/prompt_tokens",
                        "less than 0"),
                invalid(
                        UsageEvent.class,
                        "token count as string",
                        n -> n.put("completion_tokens", "12"),
                        "#/completion_tokens",
                        "Expected integer"),
                invalid(
                        UsageEvent.class,
                        "unknown outcome",
                        n -> n.put("outcome", "aborted"),
                        "#/outcome",
                        "completed"),
                invalid(
                        UsageEvent.class,
                        "endpoint without /v1",
                        n -> n.put("endpoint", "chat.completions"),
                        "#/endpoint",
                        "/v1/chat/completions"),
                invalid(
                        UsageEvent.class,
                        "unknown property",
                        n -> n.put("cost_usd", 1),
                        "#/cost_usd",
                        "additional properties"),
                invalid(UsageEvent.class, "zero choices", n -> n.put("n", 0), "#/n", "less than 1"),
                invalid(UsageEvent.class, "status 600", n -> n.put("http_status", 600), "#/http_status", "600"),
                invalid(
                        UsageEvent.class,
                        "instant as epoch number",
                        n -> n.put("occurred_at", 1_795_000_000L),
                        "#/occurred_at",
                        "Expected string"),
                invalid(
                        UsageEvent.class,
                        "instant with offset",
                        n -> n.put("occurred_at", "2026-11-30T23:59:59+01:00"),
                        "#/occurred_at",
                        "pattern"),
                invalid(
                        UsageEvent.class,
                        "space instead of T",
                        n -> n.put("received_at", "2026-11-30 23:59:59Z"),
                        "#/received_at",
                        "pattern"),
                invalid(
                        UsageEvent.class,
                        "impossible time",
                        n -> n.put("received_at", "2026-11-30T25:61:00Z"),
                        "#/received_at",
                        "date-time"),
                invalid(UsageEvent.class, "version 2", n -> n.put("schema_version", 2), "#/schema_version", "1"),
                invalid(UsageEvent.class, "blank id", n -> n.put("event_id", "req 1"), "#/event_id", "pattern"),
                invalid(
                        UsageEvent.class,
                        "NUL in an id",
                        n -> n.put("account_id", "acc\u0000"),
                        "#/account_id",
                        "pattern"),
                invalid(UsageEvent.class, "C1 control in an id", n -> n.put("model", "m\u0085x"), "#/model", "pattern"),
                invalid(
                        RatedUsage.class,
                        "control in an id",
                        n -> n.put("api_key_id", "k\u001b"),
                        "#/api_key_id",
                        "pattern"),
                invalid(UsageEvent.class, "stream as string", n -> n.put("stream", "true"), "#/stream", "boolean"),
                invalid(
                        UsageEvent.class,
                        "token count beyond int",
                        n -> n.put("total_tokens", 2_147_483_648L),
                        "#/total_tokens",
                        "2147483648"),
                invalid(
                        RatedUsage.class,
                        "fractional money",
                        n -> n.put("amount_micros", new BigDecimal("2000.5")),
                        "#/amount_micros",
                        "Expected integer"),
                invalid(
                        RatedUsage.class,
                        "integral money written as a float",
                        n -> n.put("unit_price_micros", new BigDecimal("2000.0")),
                        "#/unit_price_micros",
                        "floating-point"),
                invalid(
                        RatedUsage.class,
                        "money in exponent notation",
                        n -> n.put("amount_micros", 2e3),
                        "#/amount_micros",
                        "floating-point"),
                invalid(
                        RatedUsage.class,
                        "money beyond long",
                        n -> n.put("amount_micros", new BigInteger("9223372036854775808")),
                        "#/amount_micros",
                        "9223372036854775808"),
                invalid(
                        RatedUsage.class,
                        "negative price",
                        n -> n.put("unit_price_micros", -1),
                        "#/unit_price_micros",
                        "less than 0"),
                invalid(
                        RatedUsage.class,
                        "lower-case currency",
                        n -> n.put("currency", "usd"),
                        "#/currency",
                        "pattern"),
                invalid(RatedUsage.class, "currency symbol", n -> n.put("currency", "$"), "#/currency", "pattern"),
                invalid(RatedUsage.class, "missing currency", n -> n.remove("currency"), "#", "currency"),
                invalid(
                        RatedUsage.class,
                        "billing period as date",
                        n -> n.put("billing_period", "2026-11-01"),
                        "#/billing_period",
                        "pattern"),
                invalid(
                        RatedUsage.class,
                        "month 13",
                        n -> n.put("billing_period", "2026-13"),
                        "#/billing_period",
                        "pattern"),
                invalid(
                        RatedUsage.class,
                        "unknown property",
                        n -> n.put("amount_eur", 2),
                        "#/amount_eur",
                        "additional properties"),
                invalid(RatedUsage.class, "quantity zero", n -> n.put("quantity", 0), "#/quantity", "less than 1"));
    }

    private static Arguments invalid(
            Class<?> type, String name, Consumer<ObjectNode> change, String path, String messagePart) {
        return Arguments.of(type.getSimpleName() + ": " + name, type, change, path, messagePart);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalidDocuments")
    void invalidDocumentsFailWithTheirPathAndReason(
            String name, Class<?> type, Consumer<ObjectNode> change, String path, String messagePart) {
        ObjectNode node = Fixtures.tree(EVENTS.get(type));
        assertThat(EventSchemas.validate(type, node.toString()).valid())
                .as("the unmodified event is valid")
                .isTrue();
        change.accept(node);

        EventSchemas.Result result = EventSchemas.validate(type, node.toString());

        assertThat(result.valid()).isFalse();
        assertThat(result.violations()).as(result.summary()).anySatisfy(v -> {
            assertThat(v.path()).isEqualTo(path);
            assertThat(v.message()).contains(messagePart);
        });
    }

    @Test
    void listsEveryViolationOncePerProperty() {
        ObjectNode node = Fixtures.tree(Fixtures.rated().build());
        node.put("currency", "usd");
        node.put("amount_micros", -5);
        node.put("discount", 1);
        node.remove("plan_id");

        EventSchemas.Result result = EventSchemas.validate(RatedUsage.class, node.toString());

        assertThat(result.violations())
                .extracting(EventSchemas.Violation::path)
                .containsExactlyInAnyOrder("#", "#/currency", "#/amount_micros", "#/discount");
        assertThat(result.summary())
                .contains("#/currency: String does not match pattern")
                .contains("#/amount_micros: -5 is less than 0")
                .contains("plan_id")
                .contains("; ");
    }

    @Test
    void malformedJsonIsAViolationNotAnException() {
        assertThat(EventSchemas.validate(UsageEvent.class, "{\"event_id\": ").violations())
                .singleElement()
                .satisfies(v -> {
                    assertThat(v.path()).isEqualTo("#");
                    assertThat(v.message()).startsWith("not valid JSON");
                });
        assertThat(EventSchemas.validate(UsageEvent.class, "").summary()).isEqualTo("#: empty document");
        assertThat(EventSchemas.validate(UsageEvent.class, "[]").valid()).isFalse();
        assertThat(EventSchemas.validate(UsageEvent.class, "null").valid()).isFalse();
        assertThat(EventSchemas.validate(UsageEvent.class, "{} {}").summary()).contains("not valid JSON");
    }

    @Test
    void duplicateKeysAreRejected() {
        String json = EventJson.toJsonString(Fixtures.rated().build());
        String duplicated = json.replace("\"amount_micros\":2000", "\"amount_micros\":2000,\"amount_micros\":0");

        assertThat(duplicated).isNotEqualTo(json);
        assertThat(EventSchemas.validate(RatedUsage.class, duplicated).summary())
                .contains("Duplicate field 'amount_micros'");
    }

    @Test
    void unknownEventTypeIsRefused() {
        assertThatThrownBy(() -> EventSchemas.validate(String.class, "{}"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no schema for java.lang.String");
    }

    @Test
    void schemaExamplesAreValidAndReadable() throws IOException {
        for (Class<?> type : EVENTS.keySet()) {
            JsonNode examples = schema(type).get("examples");
            assertThat(examples).as("examples of %s", type.getSimpleName()).isNotEmpty();
            for (JsonNode example : examples) {
                assertThat(EventSchemas.validate(type, example.toString()).violations())
                        .isEmpty();
                Object event = EventJson.fromJson(example.toString(), type);
                assertThat(Fixtures.tree(event)).isEqualTo(example);
            }
        }
    }

    @Test
    void schemasDescribeExactlyTheRecordsProperties() throws IOException {
        for (Map.Entry<Class<?>, Object> entry : EVENTS.entrySet()) {
            JsonNode schema = schema(entry.getKey());
            assertThat(schema.get("$schema").asText()).isEqualTo("https://json-schema.org/draft/2020-12/schema");
            assertThat(schema.get("$id").asText()).isEqualTo(EventSchemas.schemaId(entry.getKey()));
            assertThat(schema.get("title").asText()).isNotBlank();
            assertThat(schema.get("additionalProperties").asBoolean(true)).isFalse();

            List<String> recordProperties = new ArrayList<>();
            Fixtures.tree(entry.getValue()).fieldNames().forEachRemaining(recordProperties::add);
            List<String> schemaProperties = new ArrayList<>();
            schema.get("properties").fieldNames().forEachRemaining(schemaProperties::add);
            List<String> required = new ArrayList<>();
            schema.get("required").forEach(r -> required.add(r.asText()));

            assertThat(schemaProperties).containsExactlyElementsOf(recordProperties);
            assertThat(required).containsExactlyElementsOf(recordProperties);
            schema.get("properties").properties().forEach(p -> {
                assertThat(p.getValue().path("title").asText())
                        .as("title of %s", p.getKey())
                        .isNotBlank();
                assertThat(p.getValue().path("description").asText())
                        .as("description of %s", p.getKey())
                        .isNotBlank();
                assertThat(p.getKey()).matches("[a-z][a-z0-9_]*");
            });
        }
    }

    @Test
    void enumsInSchemaMatchTheJavaEnums() throws IOException {
        JsonNode properties = schema(UsageEvent.class).get("properties");

        assertThat(values(properties.get("endpoint").get("enum")))
                .containsExactly(
                        Stream.of(Endpoint.values()).map(Endpoint::path).toArray(String[]::new));
        assertThat(values(properties.get("outcome").get("enum")))
                .containsExactly(
                        Stream.of(Outcome.values()).map(Outcome::wireName).toArray(String[]::new));
    }

    private static List<String> values(JsonNode array) {
        List<String> values = new ArrayList<>();
        array.forEach(v -> values.add(v.asText()));
        return values;
    }

    private static JsonNode schema(Class<?> type) throws IOException {
        try (InputStream in =
                EventSchemasTest.class.getClassLoader().getResourceAsStream(EventSchemas.schemaResource(type))) {
            assertThat(in).as(EventSchemas.schemaResource(type)).isNotNull();
            return new ObjectMapper().readTree(in);
        }
    }
}
