package io.flatfare.contracts.events;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The fast path for usage events against the full JSON Schema validator, over a corpus of valid documents and
 * mutations of them (missing, null, wrongly typed and out-of-range values, bad instants, unknown and duplicated
 * properties, malformed JSON): both must accept and reject the same documents and read equal events.
 */
class UsageEventReaderTest {

    private static final String RAW = "@@raw@@";

    /**
     * Instants the full path accepts but the fast path leaves to it: end of day and leap seconds, and a line
     * break after the {@code Z} (Java's {@code $} in the schema pattern allows one, and Jackson trims it).
     */
    private static final java.util.regex.Pattern DEFERRED_CLOCK =
            java.util.regex.Pattern.compile("T(24:00:00|[0-9]{2}:[0-9]{2}:60)|Z\\\\[nr]\"");

    private static final List<String> PROPERTIES = List.of(
            "schema_version",
            "event_id",
            "account_id",
            "api_key_id",
            "model",
            "model_alias",
            "price_tier",
            "endpoint",
            "stream",
            "outcome",
            "billable",
            "http_status",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "n",
            "queue_ms",
            "time_to_first_token_ms",
            "duration_ms",
            "instance_id",
            "received_at",
            "occurred_at");

    /** Raw JSON values each property is set to in turn: every type, the boundaries, near misses. */
    private static final List<String> VALUES = List.of(
            "null",
            "true",
            "false",
            "0",
            "-0",
            "1",
            "2",
            "-1",
            "99",
            "100",
            "200",
            "404",
            "499",
            "599",
            "600",
            "1.0",
            "1.5",
            "1e0",
            "1E2",
            "0.0",
            "1e400",
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "[]",
            "[1]",
            "{}",
            "{\"a\":1}",
            quoted(""),
            quoted(" "),
            quoted("a"),
            quoted("x y"),
            quoted("abc\n"),
            quoted("\tabc"),
            quoted("a\u000Bb"),
            quoted("a\fb"),
            quoted("a\rb"),
            quoted("\uD83Dx"),
            quoted("a".repeat(255)),
            quoted("a".repeat(256)),
            quoted("\uD83D\uDE00".repeat(127)),
            quoted("\uD83D\uDE00".repeat(128)),
            quoted("ключ-1"),
            quoted("a\u0000b"),
            quoted("a\u0007b"),
            quoted("a\u007Fb"),
            quoted("a\u0085b"),
            quoted("a\u009Fb"),
            quoted("\u00A0b"),
            "\"a\\uD800b\"",
            "\"a\\uDE00\\uD83Db\"",
            "\"a\\uD83D\\uDE00b\"",
            quoted("\u00a0"),
            quoted("\u2003"),
            quoted("1"),
            quoted("true"),
            quoted("null"),
            quoted("small"),
            quoted("Small"),
            quoted("large_2-x"),
            quoted("9small"),
            quoted("s".repeat(64)),
            quoted("s".repeat(65)),
            quoted("/v1/chat/completions"),
            quoted("/v1/embeddings"),
            quoted("/v1/images/generations"),
            quoted("/V1/embeddings"),
            quoted("chat.completions"),
            quoted("completed"),
            quoted("client_cancelled"),
            quoted("rejected"),
            quoted("failed"),
            quoted("timeout"),
            quoted("Completed"),
            quoted("2026-11-30T23:59:59Z"),
            quoted("2026-11-30T23:59:59.1Z"),
            quoted("2026-11-30T23:59:59.123456789Z"),
            quoted("2026-11-30T23:59:59.1234567890Z"),
            quoted("2026-11-30T23:59:59.Z"),
            quoted("2024-02-29T00:00:00Z"),
            quoted("2025-02-29T00:00:00Z"),
            quoted("2026-02-30T12:00:00Z"),
            quoted("2026-04-31T12:00:00Z"),
            quoted("2026-00-10T12:00:00Z"),
            quoted("2026-13-10T12:00:00Z"),
            quoted("2026-19-10T12:00:00Z"),
            quoted("2026-01-00T12:00:00Z"),
            quoted("2026-01-32T12:00:00Z"),
            quoted("2026-01-39T12:00:00Z"),
            quoted("2026-01-10T24:00:00Z"),
            quoted("2026-01-10T29:00:00Z"),
            quoted("2026-01-10T23:60:00Z"),
            quoted("2026-01-10T23:59:60Z"),
            quoted("2026-12-31T23:59:60Z"),
            quoted("2026-01-10T10:15:60Z"),
            quoted("2026-01-10T25:61:00Z"),
            quoted("2026-01-10t10:15:30Z"),
            quoted("2026-01-10T10:15:30z"),
            quoted("2026-01-10 10:15:30Z"),
            quoted("2026-01-10T10:15:30+00:00"),
            quoted("2026-01-10T10:15:30+01:00"),
            quoted("2026-01-10T10:15:30"),
            quoted("2026-01-10"),
            quoted("0000-01-01T00:00:00Z"),
            quoted("9999-12-31T23:59:59.999999999Z"),
            quoted("+2026-01-10T10:15:30Z"),
            quoted("1795000000"),
            quoted("1795000000.5"),
            quoted("2026-01-10T10:15:30Z\n"),
            quoted("\uFF12026-01-10T10:15:30Z"));

    @Test
    void fastPathAndFullValidatorAgreeOnEveryDocument() {
        List<String> corpus = corpus();
        int accepted = 0;
        int deferred = 0;
        for (String document : corpus) {
            byte[] json = document.getBytes(StandardCharsets.UTF_8);
            Object reference = reference(json);
            UsageEvent fast = UsageEventReader.read(json);

            if (reference instanceof UsageEvent event) {
                accepted++;
                if (fast == null) {
                    // The deliberate gaps (DEFERRED_CLOCK) go the full way, with the same answer.
                    assertThat(document).as("left to the full validator").containsPattern(DEFERRED_CLOCK);
                    deferred++;
                } else {
                    assertThat(fast).as("fast path on %s", document).isEqualTo(event);
                }
            } else {
                assertThat(fast).as("fast path on %s (%s)", document, reference).isNull();
            }
            // What callers see is the full validator's answer, reasons included.
            assertThat(EventSchemas.validate(UsageEvent.class, json))
                    .as(document)
                    .isEqualTo(EventSchemas.validateWithSchema(UsageEvent.class, json));
            assertThat(readOrReason(json)).as(document).isEqualTo(reference);
        }
        assertThat(corpus).hasSize(16_000);
        assertThat(accepted).as("valid documents in the corpus").isGreaterThan(1_000);
        assertThat(deferred)
                .as("valid documents the fast path left to the full one")
                .isLessThan(accepted / 50);
        assertThat(corpus.size() - accepted)
                .as("invalid documents in the corpus")
                .isGreaterThan(10_000);
    }

    @Test
    void schemaValidButInconsistentDocumentsAreLeftToTheFullPathAndKeepItsReason() {
        ObjectNode node = Fixtures.tree(Fixtures.usage().build());
        node.put("total_tokens", 171);
        byte[] json = node.toString().getBytes(StandardCharsets.UTF_8);

        assertThat(EventSchemas.validate(UsageEvent.class, json).valid()).isTrue();
        assertThat(UsageEventReader.read(json)).isNull();
        assertThat(readOrReason(json))
                .isEqualTo("invalid UsageEvent: total_tokens must be prompt_tokens + completion_tokens = 170, was 171");
    }

    /** The intake before the fast path: the full validator, then Jackson into the record. */
    private static Object reference(byte[] json) {
        EventSchemas.Result check = EventSchemas.validateWithSchema(UsageEvent.class, json);
        if (!check.valid()) {
            return check.summary();
        }
        try {
            return EventJson.fromJson(json, UsageEvent.class);
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    private static Object readOrReason(byte[] json) {
        try {
            return EventSchemas.read(UsageEvent.class, json);
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    private static List<String> corpus() {
        List<ObjectNode> bases = bases();
        Set<String> corpus = new LinkedHashSet<>();
        for (ObjectNode base : bases) {
            corpus.add(base.toString());
        }
        // Every property set to every value on the first five bases (the distinct shapes); the enum
        // combinations get random mutations below.
        for (ObjectNode base : bases.subList(0, 5)) {
            for (String property : PROPERTIES) {
                ObjectNode missing = base.deepCopy();
                missing.remove(property);
                corpus.add(missing.toString());
                for (String value : VALUES) {
                    corpus.add(withRaw(base, property, value));
                }
            }
            ObjectNode extra = base.deepCopy();
            extra.put("cost_usd", 1);
            corpus.add(extra.toString());
            ObjectNode extraNull = base.deepCopy();
            extraNull.putNull("Event_id");
            corpus.add(extraNull.toString());
            String json = base.toString();
            corpus.add(json.replaceFirst("\\{", "{\"n\":1,"));
            corpus.add(json.replaceFirst("\\{", "{\"event_id\":\"other\","));
            corpus.add(json + " ");
            corpus.add(" \n" + json);
            corpus.add(json + " {}");
            corpus.add(json + "x");
            corpus.add(json.substring(0, json.length() - 1));
            corpus.add("[" + json + "]");
        }
        corpus.addAll(List.of("", " ", "null", "1", "\"x\"", "[]", "{}", "{", "{\"schema_version\":1}"));

        // Random combinations of one to three mutations on random bases, reproducible by the seed.
        Random random = new Random(20_261_130L);
        while (corpus.size() < 16_000) {
            ObjectNode node = bases.get(random.nextInt(bases.size())).deepCopy();
            List<String[]> raws = new ArrayList<>();
            int mutations = 1 + random.nextInt(3);
            for (int i = 0; i < mutations; i++) {
                String property = PROPERTIES.get(random.nextInt(PROPERTIES.size()));
                if (random.nextInt(8) == 0) {
                    node.remove(property);
                } else {
                    // Placeholders, replaced once the tree is text, keep values such as 1e0 as written.
                    node.put(property, RAW + raws.size());
                    raws.add(new String[] {property, VALUES.get(random.nextInt(VALUES.size()))});
                }
            }
            String json = node.toString();
            for (int i = 0; i < raws.size(); i++) {
                json = json.replace("\"" + RAW + i + "\"", raws.get(i)[1]);
            }
            corpus.add(json);
        }
        return new ArrayList<>(corpus);
    }

    /** Valid events across the outcomes, endpoints, nullable properties and boundary values. */
    private static List<ObjectNode> bases() {
        List<ObjectNode> bases = new ArrayList<>();
        bases.add(Fixtures.tree(Fixtures.usage().build()));
        bases.add(Fixtures.tree(Fixtures.usage().model(null).modelAlias(null).priceTier(null).stream(false)
                .outcome(Outcome.REJECTED)
                .httpStatus(404)
                .promptTokens(0)
                .completionTokens(0)
                .queueMs(null)
                .timeToFirstTokenMs(null)
                .instanceId(null)
                .build()));
        bases.add(Fixtures.tree(Fixtures.usage()
                .outcome(Outcome.CLIENT_CANCELLED)
                .httpStatus(499)
                .timeToFirstTokenMs(null)
                .completionTokens(0)
                .build()));
        bases.add(Fixtures.tree(Fixtures.usage()
                .endpoint(Endpoint.EMBEDDINGS)
                .eventId("e".repeat(255))
                .accountId("\uD83D\uDE00".repeat(127))
                .priceTier("t".repeat(64))
                .promptTokens(Integer.MAX_VALUE - 1)
                .completionTokens(1)
                .n(Integer.MAX_VALUE)
                .queueMs(0L)
                .timeToFirstTokenMs(Long.MAX_VALUE)
                .durationMs(Long.MAX_VALUE)
                .receivedAt(java.time.Instant.parse("2024-02-29T00:00:00Z"))
                .occurredAt(java.time.Instant.parse("2024-02-29T23:59:59.1Z"))
                .build()));
        bases.add(Fixtures.tree(Fixtures.usage()
                .outcome(Outcome.FAILED)
                .httpStatus(503)
                .modelAlias(null)
                .timeToFirstTokenMs(12L)
                .build()));
        for (Endpoint endpoint : Endpoint.values()) {
            for (Outcome outcome : Outcome.values()) {
                int status = switch (outcome) {
                    case COMPLETED -> 201;
                    case REJECTED -> 429;
                    case CLIENT_CANCELLED -> 200;
                    case FAILED -> 500;
                    case TIMEOUT -> 504;
                };
                bases.add(Fixtures.tree(Fixtures.usage()
                        .endpoint(endpoint)
                        .outcome(outcome)
                        .httpStatus(status)
                        .build()));
            }
        }
        return bases;
    }

    /** Sets {@code property} to the raw JSON text {@code raw} (so that e.g. {@code 1e0} stays as written). */
    private static String withRaw(ObjectNode base, String property, String raw) {
        ObjectNode node = base.deepCopy();
        node.put(property, RAW);
        return node.toString().replace("\"" + RAW + "\"", raw);
    }

    private static String quoted(String value) {
        return new com.fasterxml.jackson.databind.node.TextNode(value).toString();
    }
}
