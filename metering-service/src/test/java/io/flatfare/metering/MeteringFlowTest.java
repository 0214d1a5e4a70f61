package io.flatfare.metering;

import static io.flatfare.metering.Events.completed;
import static io.flatfare.metering.Events.rejected;
import static io.flatfare.metering.Events.unique;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.RatedUsage;
import io.flatfare.contracts.events.Topics;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.metering.domain.LedgerEntry;
import io.flatfare.metering.domain.LedgerRepository;
import io.flatfare.metering.domain.Totals;
import io.flatfare.metering.service.BatchResult;
import io.flatfare.metering.service.Intake;
import io.flatfare.metering.service.LedgerService;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.quarkus.narayana.jta.QuarkusTransaction;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/** Usage in from a real Kafka broker, the ledger in a real PostgreSQL, rated usage and dead letters out. */
@QuarkusTest
@WithTestResource(KafkaTestResource.class)
@WithTestResource(PostgresTestResource.class)
class MeteringFlowTest {

    static final Instant MARCH_10 = Instant.parse("2026-03-10T12:00:00Z");
    static final Instant MARCH_20 = Instant.parse("2026-03-20T08:30:00Z");

    @Inject
    LedgerRepository ledger;

    @Inject
    LedgerService ledgerService;

    static <T> T tx(Supplier<T> work) {
        return QuarkusTransaction.requiringNew().call(work::get);
    }

    /** A new tier (tests share one database) priced from {@code from}. */
    static String tierPricedAt(long priceMicros, Instant from) {
        String tier = unique("t");
        addPrice(tier, priceMicros, from);
        return tier;
    }

    static void addPrice(String tier, long priceMicros, Instant from) {
        given().header("Authorization", "Bearer test-admin-token")
                .contentType(ContentType.JSON)
                .body(Map.of("price_micros", priceMicros, "currency", "USD", "effective_from", from.toString()))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(201);
    }

    long ledgerRows(String account) {
        return tx(() -> ledger.count("accountId", account));
    }

    Totals month(String account, String period) {
        return tx(() -> ledger.month(account, period));
    }

    /** Rated usage of these accounts on the topic (read_committed), once there are {@code expected}. */
    List<RatedUsage> ratedUsage(Set<String> accounts, int expected) {
        return TestKafka.readUntil(
                        Topics.RATED_USAGE, r -> accounts.contains(TestKafka.key(r)), kept -> kept.size() >= expected)
                .stream()
                .map(r -> EventJson.fromJson(r.value(), RatedUsage.class))
                .toList();
    }

    @Test
    void sameEventsDeliveredTwiceChangeNothing() {
        String tier = tierPricedAt(2_000, Instant.parse("2026-01-01T00:00:00Z"));
        String account = unique("acct");
        List<UsageEvent> events = List.of(
                completed(account, tier, MARCH_10), completed(account, tier, MARCH_10), rejected(account, MARCH_10));

        TestKafka.sendUsage(events);
        await().atMost(Duration.ofSeconds(30)).until(() -> ledgerRows(account) == 3);
        Totals before = month(account, "2026-03");
        assertThat(before).isEqualTo(new Totals(3, 2, 0, 4_000));

        // The same records again, then one new event: once it is in, the repeats have been consumed too.
        UsageEvent marker = completed(account, tier, MARCH_20);
        List<UsageEvent> again = new ArrayList<>(events);
        again.add(marker);
        TestKafka.sendUsage(again);
        await().atMost(Duration.ofSeconds(30)).until(() -> ledgerRows(account) == 4);
        assertThat(month(account, "2026-03")).isEqualTo(new Totals(4, 3, 0, 6_000));

        List<RatedUsage> rated = ratedUsage(Set.of(account), 3);
        assertThat(rated)
                .extracting(RatedUsage::eventId)
                .containsExactlyInAnyOrder(
                        events.get(0).eventId(), events.get(1).eventId(), marker.eventId());
    }

    @Test
    void malformedRecordsGoToTheDeadLetterTopicAndConsumptionGoesOn() {
        String tier = tierPricedAt(1_000, Instant.parse("2026-01-01T00:00:00Z"));
        String account = unique("acct");
        UsageEvent good = completed(account, tier, MARCH_10);
        String floatTokens = EventJson.toJsonString(completed(account, tier, MARCH_10))
                .replace("\"prompt_tokens\":12", "\"prompt_tokens\":12.0");
        byte[] key = account.getBytes(StandardCharsets.UTF_8);
        TestKafka.sendRaw(List.of(
                new ProducerRecord<>(Topics.USAGE, key, "not json at all".getBytes(StandardCharsets.UTF_8)),
                new ProducerRecord<>(Topics.USAGE, key, floatTokens.getBytes(StandardCharsets.UTF_8)),
                new ProducerRecord<>(Topics.USAGE, key, EventJson.toJson(good))));

        await().atMost(Duration.ofSeconds(30)).until(() -> ledgerRows(account) == 1);
        List<ConsumerRecord<byte[], byte[]>> dead =
                TestKafka.readUntil(Topics.USAGE_DLQ, r -> account.equals(TestKafka.key(r)), kept -> kept.size() >= 2);
        assertThat(dead).hasSize(2);
        assertThat(new String(dead.get(0).value(), StandardCharsets.UTF_8)).isEqualTo("not json at all");
        assertThat(TestKafka.header(dead.get(0), Topics.DLQ_REASON)).contains("not valid JSON");
        assertThat(TestKafka.header(dead.get(1), Topics.DLQ_REASON)).contains("prompt_tokens");
        for (var record : dead) {
            assertThat(TestKafka.header(record, Topics.DLQ_CAUSE)).isEqualTo("invalid-record");
            assertThat(TestKafka.header(record, Topics.DLQ_TOPIC)).isEqualTo(Topics.USAGE);
            assertThat(TestKafka.header(record, Topics.DLQ_PARTITION)).matches("\\d+");
            assertThat(TestKafka.header(record, Topics.DLQ_OFFSET)).matches("\\d+");
        }
        assertThat(Long.parseLong(TestKafka.header(dead.get(1), Topics.DLQ_OFFSET)))
                .isEqualTo(Long.parseLong(TestKafka.header(dead.get(0), Topics.DLQ_OFFSET)) + 1);
    }

    @Test
    void anIdPostgresCannotHoldIsDeadLetteredAndConsumptionGoesOn() {
        String tier = tierPricedAt(1_000, Instant.parse("2026-01-01T00:00:00Z"));
        String account = unique("acct");
        byte[] key = account.getBytes(StandardCharsets.UTF_8);
        // JSON escapes of a NUL (which PostgreSQL text cannot hold) and of another control character.
        String nulKey = EventJson.toJsonString(completed(account, tier, MARCH_10))
                .replace("\"api_key_id\":\"", "\"api_key_id\":\"k\\u0000");
        String bellModel = EventJson.toJsonString(completed(account, tier, MARCH_10))
                .replace("\"model\":\"", "\"model\":\"m\\u0007");
        UsageEvent good = completed(account, tier, MARCH_10);
        TestKafka.sendRaw(List.of(
                new ProducerRecord<>(Topics.USAGE, key, nulKey.getBytes(StandardCharsets.UTF_8)),
                new ProducerRecord<>(Topics.USAGE, key, bellModel.getBytes(StandardCharsets.UTF_8)),
                new ProducerRecord<>(Topics.USAGE, key, EventJson.toJson(good))));

        await().atMost(Duration.ofSeconds(30)).until(() -> ledgerRows(account) == 1);
        List<ConsumerRecord<byte[], byte[]>> dead =
                TestKafka.readUntil(Topics.USAGE_DLQ, r -> account.equals(TestKafka.key(r)), kept -> kept.size() >= 2);
        assertThat(dead).hasSize(2);
        assertThat(TestKafka.header(dead.get(0), Topics.DLQ_REASON)).contains("api_key_id");
        assertThat(TestKafka.header(dead.get(1), Topics.DLQ_REASON)).contains("model");
        for (var record : dead) {
            assertThat(TestKafka.header(record, Topics.DLQ_CAUSE)).isEqualTo("invalid-record");
        }
        assertThat(month(account, "2026-03")).isEqualTo(new Totals(1, 1, 0, 1_000));
    }

    /**
     * A batch the database refuses because of one event in it (here a trigger raising a data exception for one
     * account, standing in for any value PostgreSQL cannot take) would fail on every retry and hold up all billing
     * behind it: the event at fault is dead-lettered with the database's reason and the rest is recorded.
     */
    @Test
    void anEventTheDatabaseRefusesIsDeadLetteredAndTheRestOfItsBatchIsRecorded() {
        String tier = tierPricedAt(1_000, Instant.parse("2026-01-01T00:00:00Z"));
        String account = unique("acct");
        String refusedAccount = unique("refused");
        String trigger = "refuse_" + refusedAccount.replaceAll("[^a-z0-9]", "_");
        execute("create function " + trigger + "() returns trigger language plpgsql as $$ begin if new.account_id = '"
                + refusedAccount + "' then raise exception 'refused for the test' using errcode = '22023'; end if;"
                + " return new; end $$");
        execute("create trigger " + trigger + " before insert on usage_ledger for each row execute function " + trigger
                + "()");
        try {
            byte[] key = account.getBytes(StandardCharsets.UTF_8);
            List<UsageEvent> events = new ArrayList<>();
            for (int i = 0; i < 7; i++) {
                events.add(completed(i == 4 ? refusedAccount : account, tier, MARCH_10));
            }
            // One key, so one partition and, sent together, one poll batch.
            TestKafka.sendRaw(events.stream()
                    .map(e -> new ProducerRecord<>(Topics.USAGE, key, EventJson.toJson(e)))
                    .toList());

            await().atMost(Duration.ofSeconds(30)).until(() -> ledgerRows(account) == 6);
            List<ConsumerRecord<byte[], byte[]>> dead = TestKafka.readUntil(
                    Topics.USAGE_DLQ, r -> account.equals(TestKafka.key(r)), kept -> !kept.isEmpty());
            assertThat(dead).hasSize(1);
            assertThat(dead.getFirst().value()).isEqualTo(EventJson.toJson(events.get(4)));
            assertThat(TestKafka.header(dead.getFirst(), Topics.DLQ_CAUSE)).isEqualTo("invalid-record");
            assertThat(TestKafka.header(dead.getFirst(), Topics.DLQ_REASON))
                    .contains("22023")
                    .contains("refused for the test");
            assertThat(ledgerRows(refusedAccount)).isZero();
            assertThat(month(account, "2026-03")).isEqualTo(new Totals(6, 6, 0, 6_000));
            assertThat(ratedUsage(Set.of(account), 6))
                    .extracting(RatedUsage::eventId)
                    .containsExactlyInAnyOrderElementsOf(events.stream()
                            .filter(e -> e.accountId().equals(account))
                            .map(UsageEvent::eventId)
                            .toList());
        } finally {
            execute("drop trigger " + trigger + " on usage_ledger");
            execute("drop function " + trigger + "()");
        }
    }

    void execute(String sql) {
        tx(() -> ledger.getEntityManager().createNativeQuery(sql).executeUpdate());
    }

    /**
     * A record near the broker's size limit cannot go to the dead-letter topic as it is (the dead-letter headers
     * make it larger than a producer request may be): the failed send aborted the batch's transaction, and the
     * batch was read again and failed again, forever, holding up all billing behind it.
     */
    @Test
    void aRecordTooLargeToDeadLetterWholeIsDeadLetteredCutAndConsumptionGoesOn() {
        String tier = tierPricedAt(1_000, Instant.parse("2026-01-01T00:00:00Z"));
        String account = unique("acct");
        byte[] key = account.getBytes(StandardCharsets.UTF_8);
        byte[] huge = new byte[1_048_000];
        java.util.Arrays.fill(huge, (byte) 'x');
        UsageEvent good = completed(account, tier, MARCH_10);
        TestKafka.sendRaw(List.of(
                new ProducerRecord<>(Topics.USAGE, key, huge),
                new ProducerRecord<>(Topics.USAGE, key, EventJson.toJson(good))));

        await().atMost(Duration.ofSeconds(30)).until(() -> ledgerRows(account) == 1);
        List<ConsumerRecord<byte[], byte[]>> dead =
                TestKafka.readUntil(Topics.USAGE_DLQ, r -> account.equals(TestKafka.key(r)), kept -> !kept.isEmpty());
        assertThat(dead).hasSize(1);
        ConsumerRecord<byte[], byte[]> letter = dead.getFirst();
        assertThat(TestKafka.header(letter, Topics.DLQ_CAUSE)).isEqualTo("invalid-record");
        assertThat(TestKafka.header(letter, Topics.DLQ_REASON))
                .contains("at most 65536 bytes")
                .contains("its value 1048000 bytes");
        assertThat(letter.value()).hasSize(Topics.MAX_USAGE_RECORD_BYTES).containsOnly((byte) 'x');
        assertThat(TestKafka.header(letter, Topics.DLQ_VALUE_BYTES)).isEqualTo("1048000");
        assertThat(Long.parseLong(TestKafka.header(letter, Topics.DLQ_OFFSET))).isNotNegative();
    }

    @Test
    void aBillableEventWithoutAPriceIsDeadLetteredNotGuessed() {
        String account = unique("acct");
        UsageEvent unpriced = completed(account, unique("nopricetier"), MARCH_10);
        UsageEvent free = rejected(account, MARCH_10);
        TestKafka.sendUsage(List.of(unpriced, free));

        await().atMost(Duration.ofSeconds(30)).until(() -> ledgerRows(account) == 1);
        var dead =
                TestKafka.readUntil(Topics.USAGE_DLQ, r -> account.equals(TestKafka.key(r)), kept -> !kept.isEmpty());
        assertThat(TestKafka.header(dead.get(0), Topics.DLQ_CAUSE)).isEqualTo("unrateable");
        assertThat(TestKafka.header(dead.get(0), Topics.DLQ_REASON)).contains("no price for tier");
        assertThat(month(account, "2026-03")).isEqualTo(new Totals(1, 0, 0, 0));
    }

    @Test
    void aPriceChangeMidMonthRatesEachEventAtThePriceOfItsTime() {
        String tier = tierPricedAt(1_000, Instant.parse("2026-03-01T00:00:00Z"));
        addPrice(tier, 2_500, Instant.parse("2026-03-15T00:00:00Z"));
        String account = unique("acct");
        UsageEvent early = completed(account, tier, MARCH_10);
        UsageEvent late = completed(account, tier, MARCH_20);
        // Delivered late-first: the price follows the event's time, not the order of arrival.
        TestKafka.sendUsage(List.of(late, early));

        await().atMost(Duration.ofSeconds(30)).until(() -> ledgerRows(account) == 2);
        LedgerEntry earlyRow = tx(() -> ledger.findById(early.eventId()));
        LedgerEntry lateRow = tx(() -> ledger.findById(late.eventId()));
        assertThat(earlyRow.unitPriceMicros).isEqualTo(1_000);
        assertThat(earlyRow.priceVersion).isEqualTo(1);
        assertThat(lateRow.unitPriceMicros).isEqualTo(2_500);
        assertThat(lateRow.priceVersion).isEqualTo(2);
        assertThat(month(account, "2026-03").amountMicros()).isEqualTo(3_500);

        Map<String, RatedUsage> rated =
                ratedUsage(Set.of(account), 2).stream().collect(Collectors.toMap(RatedUsage::eventId, r -> r));
        assertThat(rated.get(early.eventId()).amountMicros()).isEqualTo(1_000);
        assertThat(rated.get(late.eventId()).amountMicros()).isEqualTo(2_500);
        assertThat(rated.get(late.eventId()).priceEffectiveFrom()).isEqualTo(Instant.parse("2026-03-15T00:00:00Z"));
    }

    @Test
    void aPlansIncludedRequestsCostNothingAndTheRestPayTheOveragePrice() {
        String tier = tierPricedAt(1_000, Instant.parse("2026-01-01T00:00:00Z"));
        String plan = unique("team");
        String account = unique("acct");
        var admin = given().header("Authorization", "Bearer test-admin-token").contentType(ContentType.JSON);
        admin.body(Map.of(
                        "monthly_fee_micros", 50_000_000,
                        "included_requests", 2,
                        "overage_price_micros", 700,
                        "currency", "USD",
                        "effective_from", "2026-01-01T00:00:00Z"))
                .post("/admin/plans/" + plan)
                .then()
                .statusCode(201);
        given().header("Authorization", "Bearer test-admin-token")
                .contentType(ContentType.JSON)
                .body(Map.of("plan_id", plan, "effective_from", "2026-02-01T00:00:00Z"))
                .post("/admin/accounts/" + account + "/plan")
                .then()
                .statusCode(201);

        TestKafka.sendUsage(List.of(
                completed(account, tier, MARCH_10),
                completed(account, tier, MARCH_10),
                completed(account, tier, MARCH_20)));
        await().atMost(Duration.ofSeconds(30)).until(() -> ledgerRows(account) == 3);
        assertThat(month(account, "2026-03")).isEqualTo(new Totals(3, 3, 2, 700));
        assertThat(ratedUsage(Set.of(account), 3))
                .allSatisfy(r -> assertThat(r.planId()).isEqualTo(plan))
                .extracting(RatedUsage::includedInPlan)
                .containsExactlyInAnyOrder(true, true, false);
    }

    @Test
    void aBatchOf1001AccountsIsSavedWhole() {
        String tier = tierPricedAt(3_000, Instant.parse("2026-01-01T00:00:00Z"));
        String prefix = unique("bulk");
        List<Intake> batch = IntStream.range(0, 1001)
                .mapToObj(i -> new Intake(completed(prefix + "-" + i, tier, MARCH_10), 0, i))
                .toList();

        BatchResult result = ledgerService.record(batch);

        assertThat(result.recorded()).isEqualTo(1001);
        assertThat(tx(() -> ledger.count("accountId like ?1", prefix + "-%"))).isEqualTo(1001);
        assertThat(month(prefix + "-1000", "2026-03")).isEqualTo(new Totals(1, 1, 0, 3_000));
        assertThat(tx(() -> ledger.day(
                        prefix + "-0", MARCH_10.atZone(java.time.ZoneOffset.UTC).toLocalDate())))
                .isEqualTo(new Totals(1, 1, 0, 3_000));
        assertThat(result.rated()).hasSize(1001);

        // The same records again (same partition and offsets: their Kafka transaction did not commit) change
        // nothing in the ledger, and their rated usage is to be sent again, as it was rated the first time.
        BatchResult again = ledgerService.record(batch);
        assertThat(again.duplicates()).isEqualTo(1001);
        assertThat(again.recorded()).isZero();
        assertThat(again.rated()).isEqualTo(result.rated());
        assertThat(month(prefix + "-1000", "2026-03")).isEqualTo(new Totals(1, 1, 0, 3_000));

        // Without the lookup, a batch holding a recorded id fails whole on the ledger's key and changes nothing.
        assertThatThrownBy(() -> ledgerService.recordAssumingNew(batch))
                .satisfies(e -> assertThat(LedgerService.isRepeat(e)).isTrue());
        assertThat(month(prefix + "-1000", "2026-03")).isEqualTo(new Totals(1, 1, 0, 3_000));
        assertThat(tx(() -> ledger.count("accountId like ?1", prefix + "-%"))).isEqualTo(1001);

        // The same events read from other positions are repeats: nothing to send.
        List<Intake> repeats = batch.stream()
                .map(i -> new Intake(i.event(), 0, i.offset() + 5_000))
                .toList();
        BatchResult repeated = ledgerService.record(repeats);
        assertThat(repeated.duplicates()).isEqualTo(1001);
        assertThat(repeated.rated()).isEmpty();
    }
}
