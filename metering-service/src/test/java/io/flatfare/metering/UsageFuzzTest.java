package io.flatfare.metering;

import static io.flatfare.metering.Events.completed;
import static io.flatfare.metering.Events.rejected;
import static io.flatfare.metering.Events.unique;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.Topics;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.metering.domain.LedgerEntry;
import io.flatfare.metering.domain.LedgerRepository;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.junit.jupiter.api.Test;

/**
 * Usage records mutated from one seed (fields of the wrong type, removed or added, odd dates, numbers and enum
 * values, duplicated keys, truncated or invalid JSON) among valid ones: each record ends up in the ledger under its
 * event id or on the dead-letter topic, never both and never neither, a ledgered row is priced by the rules, and
 * the whole batch delivered again changes nothing. Reproduce a failure with {@code -Dfuzz.seed=<the seed it
 * prints>}; {@code -Dfuzz.requests=N} sends more.
 */
@QuarkusTest
@WithTestResource(KafkaTestResource.class)
@WithTestResource(PostgresTestResource.class)
class UsageFuzzTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String INDEX = "fuzz-index";
    private static final Instant MARCH_10 = Instant.parse("2026-03-10T12:00:00Z");

    private static final String[] VALUES = {
        "null",
        "true",
        "false",
        "0",
        "-1",
        "1",
        "2",
        "12.0",
        "2147483647",
        "2147483648",
        "-2147483649",
        "9223372036854775807",
        "9223372036854775808",
        "1e308",
        "-0.0",
        "\"\"",
        "\" \"",
        "\"x\"",
        "\"12\"",
        "\"COMPLETED\"",
        "\"completed\"",
        "\"rejected\"",
        "\"failed\"",
        "\"cancelled\"",
        "\"chat.completions\"",
        "\"embeddings\"",
        "\"small\"",
        "\"2026-03-10T12:00:00Z\"",
        "\"2026-02-30T00:00:00Z\"",
        "\"2026-03-10T24:00:00Z\"",
        "\"2026-03-10T23:59:60Z\"",
        "\"+10000-01-01T00:00:00Z\"",
        "\"0000-01-01T00:00:00Z\"",
        "\"1970-01-01T00:00:00Z\"",
        "\"9999-12-31T23:59:59.999999999Z\"",
        "\"2026-03-10T12:00:00+02:00\"",
        "\"2026-03-10 12:00:00\"",
        "\"2026-03-10T12:00:00.1234567891Z\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"\\ud83d\\ude00\"",
        "[]",
        "{}",
        "[1]",
        "{\"a\":1}"
    };

    /** Fields a mutation may set; never {@code event_id}, so that each record keeps an id of its own. */
    private static final List<String> FIELDS = List.of(
            "schema_version",
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
            "occurred_at",
            "x_extra");

    @Inject
    LedgerRepository ledger;

    @Test
    void eachRecordIsLedgeredOnceOrDeadLetteredAndADeliveryAgainChangesNothing() throws IOException {
        long seed = Long.getLong("fuzz.seed", 20261201L);
        int count = Integer.getInteger("fuzz.requests", 300);
        Random random = new Random(seed);
        String run = unique("fuzz");
        String tier = MeteringFlowTest.tierPricedAt(1_500, Instant.parse("2026-01-01T00:00:00Z"));

        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        Map<Integer, String> idOf = new HashMap<>();
        Set<Integer> invalid = new HashSet<>();
        for (int i = 0; i < count; i++) {
            String account = run + "-" + (i % 4);
            UsageEvent event = random.nextInt(3) == 0
                    ? rejected(account, MARCH_10.plusSeconds(i))
                    : completed(account, tier, MARCH_10.plusSeconds(i));
            Mutated mutated = random.nextInt(3) == 0
                    ? new Mutated(EventJson.toJson(event), false)
                    : mutate(EventJson.toJsonString(event), random);
            byte[] value = mutated.value();
            if (mutated.invalidJson()) {
                invalid.add(i);
            }
            idOf.put(i, eventIdOf(value));
            records.add(record(run, value, Integer.toString(i)));
        }
        // The same key throughout: one partition, in order, so once the marker is in every record before it is done.
        UsageEvent marker = completed(run + "-marker", tier, MARCH_10);
        records.add(record(run, EventJson.toJson(marker), "marker"));
        TestKafka.sendRaw(records);
        await().atMost(Duration.ofSeconds(60))
                .until(() -> !rows(Set.of(marker.eventId())).isEmpty());

        Map<String, LedgerEntry> ledgered = rows(new HashSet<>(idOf.values()));
        Set<Integer> inLedger = new HashSet<>();
        idOf.forEach((index, id) -> {
            if (id != null && ledgered.containsKey(id)) {
                inLedger.add(index);
            }
        });
        int deadExpected = count - inLedger.size();
        List<ConsumerRecord<byte[], byte[]>> dead = TestKafka.readUntil(
                Topics.USAGE_DLQ, r -> run.equals(TestKafka.key(r)), kept -> kept.size() >= deadExpected);
        Set<Integer> inDeadLetters = new HashSet<>();
        for (ConsumerRecord<byte[], byte[]> letter : dead) {
            int index = Integer.parseInt(TestKafka.header(letter, INDEX));
            String where = "seed " + seed + ", record " + index + ": "
                    + new String(records.get(index).value(), StandardCharsets.UTF_8);
            assertThat(inDeadLetters.add(index))
                    .as("dead-lettered twice: " + where)
                    .isTrue();
            assertThat(inLedger).as("ledgered and dead-lettered: " + where).doesNotContain(index);
            assertThat(letter.value()).as(where).isEqualTo(records.get(index).value());
            assertThat(TestKafka.header(letter, Topics.DLQ_REASON)).as(where).isNotBlank();
            assertThat(TestKafka.header(letter, Topics.DLQ_CAUSE))
                    .as(where)
                    .isIn(Topics.DLQ_CAUSE_INVALID_RECORD, Topics.DLQ_CAUSE_UNRATEABLE);
        }
        assertThat(inDeadLetters.size() + inLedger.size())
                .as("records accounted for, seed %d", seed)
                .isEqualTo(count);
        System.out.printf(
                "UsageFuzzTest seed %d: %d records, %d ledgered, %d dead-lettered%n",
                seed, count, inLedger.size(), inDeadLetters.size());
        // Mutations reached both ends.
        assertThat(inLedger).hasSizeGreaterThan(count / 3);
        assertThat(inDeadLetters).hasSizeGreaterThan(count / 10);

        for (LedgerEntry row : ledgered.values()) {
            String where = "seed " + seed + ", event " + row.eventId;
            assertThat(row.amountMicros).as(where).isNotNegative();
            if (row.billable && !row.includedInPlan) {
                assertThat(row.unitPriceMicros).as(where).isNotNull();
                assertThat(row.amountMicros).as(where).isEqualTo(row.unitPriceMicros);
            } else {
                assertThat(row.amountMicros).as(where).isZero();
            }
        }

        // The whole batch again (a redelivery after a crash, say): the ledger does not move.
        List<ProducerRecord<byte[], byte[]>> again = new ArrayList<>(records.subList(0, count));
        UsageEvent secondMarker = completed(run + "-marker", tier, MARCH_10);
        again.add(record(run, EventJson.toJson(secondMarker), "marker"));
        TestKafka.sendRaw(again);
        await().atMost(Duration.ofSeconds(60))
                .until(() -> !rows(Set.of(secondMarker.eventId())).isEmpty());
        Map<String, LedgerEntry> after = rows(new HashSet<>(idOf.values()));
        assertThat(after.keySet()).isEqualTo(ledgered.keySet());
        after.forEach((id, row) -> assertThat(row.amountMicros)
                .as("seed %d, event %s", seed, id)
                .isEqualTo(ledgered.get(id).amountMicros));
    }

    private Map<String, LedgerEntry> rows(Set<String> eventIds) {
        Set<String> ids = new HashSet<>(eventIds);
        ids.remove(null);
        Map<String, LedgerEntry> byId = new HashMap<>();
        MeteringFlowTest.tx(() -> ledger.list("eventId in ?1", ids)).forEach(row -> byId.put(row.eventId, row));
        return byId;
    }

    private static ProducerRecord<byte[], byte[]> record(String key, byte[] value, String index) {
        var record = new ProducerRecord<>(Topics.USAGE, key.getBytes(StandardCharsets.UTF_8), value);
        record.headers().add(new RecordHeader(INDEX, index.getBytes(StandardCharsets.UTF_8)));
        return record;
    }

    /** The event id a lenient parser sees in the record, if any: the ledger can only hold it under that one. */
    private static String eventIdOf(byte[] value) {
        try {
            JsonNode node = JSON.readTree(value);
            return node != null && node.path("event_id").isTextual()
                    ? node.get("event_id").asText()
                    : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** A record's bytes; {@code invalidJson} when they are not one JSON object with each key once. */
    record Mutated(byte[] value, boolean invalidJson) {}

    private static Mutated mutate(String json, Random random) throws IOException {
        if (random.nextInt(5) == 0) {
            return textMutation(json, random);
        }
        ObjectNode event = (ObjectNode) JSON.readTree(json);
        int mutations = 1 + random.nextInt(2);
        for (int i = 0; i < mutations; i++) {
            String field = FIELDS.get(random.nextInt(FIELDS.size()));
            if (random.nextInt(4) == 0) {
                event.remove(field);
            } else {
                event.set(field, JSON.readTree(VALUES[random.nextInt(VALUES.length)]));
            }
        }
        return new Mutated(JSON.writeValueAsBytes(event), false);
    }

    private static Mutated textMutation(String json, Random random) {
        int at = random.nextInt(json.length());
        int kind = random.nextInt(7);
        String text = switch (kind) {
            case 0 -> json.substring(0, at); // truncated
            case 1 -> json.substring(0, at) + "\u0001" + json.substring(at);
            case 2 -> "\uFEFF" + json; // byte order mark
            // The same key twice, the first time with another value: which one would be billed?
            case 3 -> json.replaceFirst("\\{", "{\"billable\":" + random.nextBoolean() + ",");
            case 4 -> json.replaceFirst("\\{", "{\"occurred_at\":\"2026-04-01T00:00:00Z\",");
            case 5 -> json + " trailing";
            default -> json.replaceFirst("\"n\":\\d+", "\"n\":NaN");
        };
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        boolean brokenUtf8 = random.nextInt(10) == 0;
        if (brokenUtf8) {
            bytes[random.nextInt(bytes.length)] = (byte) 0xC3; // followed by ASCII or nothing: invalid UTF-8
        }
        // A leading byte order mark is the one change that may leave the JSON valid.
        return new Mutated(bytes, kind != 2 || brokenUtf8);
    }
}
