package io.flatfare.metering;

import static io.flatfare.metering.Events.completed;
import static io.flatfare.metering.Events.unique;
import static io.flatfare.metering.MeteringFlowTest.MARCH_10;
import static io.flatfare.metering.MeteringFlowTest.MARCH_20;
import static io.flatfare.metering.MeteringFlowTest.addPrice;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;

import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.RatedUsage;
import io.flatfare.contracts.events.Topics;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.metering.domain.LedgerRepository;
import io.flatfare.metering.domain.Totals;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.quarkus.narayana.jta.QuarkusTransaction;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/**
 * Billable events dead-lettered for want of a price are rated once the price exists and an operator replays them:
 * each exactly once, and nothing else from the dead-letter topic. The broker's dead-letter topic is shared with the
 * other tests, so every check is about this test's own accounts.
 */
@QuarkusTest
@WithTestResource(KafkaTestResource.class)
@WithTestResource(PostgresTestResource.class)
class DeadLetterReplayTest {

    static final Instant MARCH_1 = Instant.parse("2026-03-01T00:00:00Z");

    @Inject
    LedgerRepository ledger;

    long ledgerRows(String account) {
        return QuarkusTransaction.requiringNew().call(() -> ledger.count("accountId", account));
    }

    Totals month(String account) {
        return QuarkusTransaction.requiringNew().call(() -> ledger.month(account, "2026-03"));
    }

    static JsonPath replay(String limit) {
        return replay(null, limit);
    }

    static JsonPath replay(String cause, String limit) {
        var request = given().header("Authorization", "Bearer test-admin-token");
        if (cause != null) {
            request.queryParam("cause", cause);
        }
        if (limit != null) {
            request.queryParam("limit", limit);
        }
        return request.post("/admin/dead-letters/replay")
                .then()
                .statusCode(200)
                .extract()
                .jsonPath();
    }

    /** Replays until the topic has nothing more as of each call. */
    static void replayAll() {
        await().atMost(Duration.ofSeconds(60)).until(() -> !replay(null).getBoolean("has_more"));
    }

    static List<ConsumerRecord<byte[], byte[]>> deadLetters(String account, int atLeast) {
        return TestKafka.readUntil(
                Topics.USAGE_DLQ, r -> account.equals(TestKafka.key(r)), kept -> kept.size() >= atLeast);
    }

    @Test
    void unrateableEventsAreRatedOnceWhenReplayedAfterTheirPriceExists() {
        String tier = unique("late-price");
        String account = unique("acct");
        UsageEvent first = completed(account, tier, MARCH_10);
        UsageEvent second = completed(account, tier, MARCH_20);
        TestKafka.sendUsage(List.of(first, second));
        TestKafka.sendRaw(List.of(new ProducerRecord<>(
                Topics.USAGE,
                account.getBytes(StandardCharsets.UTF_8),
                "never valid".getBytes(StandardCharsets.UTF_8))));
        assertThat(deadLetters(account, 3)).hasSize(3);
        assertThat(ledgerRows(account)).isZero();

        // Replayed before the price exists: dead-lettered again, still not rated at a guess.
        replayAll();
        assertThat(deadLetters(account, 5))
                .extracting(r -> TestKafka.header(r, Topics.DLQ_CAUSE))
                .containsExactlyInAnyOrder("unrateable", "unrateable", "invalid-record", "unrateable", "unrateable");
        assertThat(ledgerRows(account)).isZero();

        addPrice(tier, 3_000, MARCH_1);
        replayAll();
        await().atMost(Duration.ofSeconds(30)).until(() -> ledgerRows(account) == 2);
        assertThat(month(account)).isEqualTo(new Totals(2, 2, 0, 6_000));

        // Once each: replays after this find nothing of this account to move, and finance sees two rated records.
        replayAll();
        List<RatedUsage> rated =
                TestKafka.readUntil(Topics.RATED_USAGE, r -> account.equals(TestKafka.key(r)), kept -> kept.size() >= 2)
                        .stream()
                        .map(r -> EventJson.fromJson(r.value(), RatedUsage.class))
                        .toList();
        assertThat(rated).extracting(RatedUsage::eventId).containsExactlyInAnyOrder(first.eventId(), second.eventId());
        List<ConsumerRecord<byte[], byte[]>> usage =
                TestKafka.readUntil(Topics.USAGE, r -> account.equals(TestKafka.key(r)), kept -> kept.size() >= 7);
        // 3 sent, 2 replayed before the price, 2 after it; the record that is not an event never went back.
        assertThat(usage).hasSize(7);
        var replayed = usage.stream()
                .filter(r -> TestKafka.header(r, Topics.REPLAYED_FROM) != null)
                .toList();
        assertThat(replayed).hasSize(4);
        for (var record : replayed) {
            assertThat(TestKafka.header(record, Topics.REPLAYED_FROM)).startsWith(Topics.USAGE_DLQ + "/");
            assertThat(TestKafka.header(record, Topics.DLQ_CAUSE)).isNull();
            assertThat(TestKafka.header(record, Topics.DLQ_REASON)).isNull();
        }
        assertThat(deadLetters(account, 5)).hasSize(5);

        String metrics =
                given().get("/q/metrics").then().statusCode(200).extract().asString();
        assertThat(metrics)
                .containsPattern("flatfare_metering_dead_letters_total\\{cause=\"unrateable\"[^}]*} [1-9]")
                .containsPattern("flatfare_metering_dead_letters_total\\{cause=\"invalid-record\"[^}]*} [1-9]")
                .containsPattern("flatfare_metering_dead_letters_replayed_total(\\{[^}]*})? [1-9]");
    }

    @Test
    void aReplayStopsAtItsLimitAndTheNextGoesOnFromThere() {
        String tier = unique("late-price");
        String account = unique("acct");
        TestKafka.sendUsage(List.of(
                completed(account, tier, MARCH_10),
                completed(account, tier, MARCH_10),
                completed(account, tier, MARCH_20)));
        deadLetters(account, 3);
        addPrice(tier, 1_000, MARCH_1);

        JsonPath one = replay("1");
        assertThat(one.getLong("replayed")
                        + one.getMap("passed_over").values().stream()
                                .mapToLong(n -> ((Number) n).longValue())
                                .sum())
                .isEqualTo(1);
        assertThat(one.getBoolean("has_more")).isTrue();
        await().atMost(Duration.ofSeconds(60)).until(() -> {
            replay("1");
            return ledgerRows(account) == 3;
        });
        assertThat(month(account)).isEqualTo(new Totals(3, 3, 0, 3_000));
    }

    /**
     * Records metering refused as invalid go back only when asked for by cause (after an upgrade that understands
     * them), with a cursor of their own: replays of unrateable ones pass over them without moving it.
     */
    @Test
    void invalidRecordsAreReplayedOnlyWhenAskedForAndHaveTheirOwnCursor() {
        String account = unique("acct");
        String body = "{\"schema_version\":\"9.0\",\"account_id\":\"" + account + "\"}";
        TestKafka.sendRaw(List.of(new ProducerRecord<>(
                Topics.USAGE, account.getBytes(StandardCharsets.UTF_8), body.getBytes(StandardCharsets.UTF_8))));
        assertThat(deadLetters(account, 1))
                .extracting(r -> TestKafka.header(r, Topics.DLQ_CAUSE))
                .containsExactly("invalid-record");

        replayAll();
        assertThat(TestKafka.readUntil(Topics.USAGE, r -> account.equals(TestKafka.key(r)), kept -> !kept.isEmpty()))
                .as("an unrateable replay leaves it")
                .hasSize(1);

        await().atMost(Duration.ofSeconds(60))
                .until(() -> !replay("invalid-record", null).getBoolean("has_more"));
        List<ConsumerRecord<byte[], byte[]>> usage =
                TestKafka.readUntil(Topics.USAGE, r -> account.equals(TestKafka.key(r)), kept -> kept.size() >= 2);
        assertThat(usage).hasSize(2);
        assertThat(new String(usage.get(1).value(), StandardCharsets.UTF_8)).isEqualTo(body);
        assertThat(TestKafka.header(usage.get(1), Topics.REPLAYED_FROM)).startsWith(Topics.USAGE_DLQ + "/");
        // Still not an event this metering knows: refused again, never recorded.
        assertThat(deadLetters(account, 2)).hasSize(2);
        assertThat(ledgerRows(account)).isZero();
    }

    @Test
    void theReplayNeedsTheAdminTokenAKnownCauseAndASaneLimit() {
        given().post("/admin/dead-letters/replay").then().statusCode(401);
        given().header("Authorization", "Bearer test-finance-token")
                .post("/admin/dead-letters/replay")
                .then()
                .statusCode(403);
        given().header("Authorization", "Bearer test-admin-token")
                .queryParam("cause", "whatever")
                .post("/admin/dead-letters/replay")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("cause"));
        for (String limit : List.of("0", "100001", "lots")) {
            given().header("Authorization", "Bearer test-admin-token")
                    .queryParam("limit", limit)
                    .post("/admin/dead-letters/replay")
                    .then()
                    .statusCode(400)
                    .body("error.param", equalTo("limit"))
                    .body("error.code", equalTo("invalid_value"));
        }
    }
}
