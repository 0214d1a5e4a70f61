package io.flatfare.metering;

import static io.flatfare.metering.Events.completed;
import static io.flatfare.metering.Events.unique;
import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;

import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.ProxiedPostgresResource;
import io.flatfare.testing.postgres.TestDatabase;
import io.flatfare.testing.support.TcpProxy;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The database away: readiness follows it, and the usage consumer gets over connections lost without a reset. With
 * timeouts of 2 to 3 s here, so that a lost connection is given up well within a test's wait.
 */
@QuarkusTest
@TestProfile(DatabaseOutageTest.ShortTimeouts.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(ProxiedPostgresResource.class)
class DatabaseOutageTest {

    public static class ShortTimeouts implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of(
                    "quarkus.datasource.jdbc.validation-query-timeout", "2s",
                    "quarkus.datasource.jdbc.additional-jdbc-properties.socketTimeout", "3",
                    "quarkus.datasource.jdbc.new-connection-sql", "set idle_in_transaction_session_timeout = '3s'");
        }
    }

    TcpProxy database;

    int readiness() {
        return given().get("/q/health/ready").statusCode();
    }

    @Test
    void readinessIsDownWhileTheDatabaseIsUnreachableAndUpAfter() {
        await().atMost(Duration.ofSeconds(30)).until(() -> readiness() == 200);
        database.down();
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> readiness() == 503);
            given().get("/q/health/ready")
                    .then()
                    .body("checks.find { it.name == 'Database connections health check' }.status", equalTo("DOWN"));
            // Liveness is not the database's business: restarting the pod would not bring it back.
            given().get("/q/health/live").then().statusCode(200);
        } finally {
            database.up();
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> readiness() == 200);
    }

    @Test
    void theConsumerIsNeverHandedAPooledConnectionLostWithoutAReset() {
        Instant at = Instant.parse("2026-03-10T12:00:00Z");
        String tier = MeteringFlowTest.tierPricedAt(1_000, Instant.parse("2026-01-01T00:00:00Z"));
        String account = unique("acct");
        TestKafka.sendUsage(List.of(completed(account, tier, at)));
        await().atMost(Duration.ofSeconds(30)).until(() -> ledgerRows(account) == 1);

        // The pool's idle connections, the one the consumer used among them, now lead nowhere: no answer and no
        // reset, as when a database host fails over. Handed out unchecked, one would hold the consumer for good.
        database.blackHoleOpenConnections();
        List<UsageEvent> later =
                List.of(completed(account, tier, at), completed(account, tier, at), completed(account, tier, at));
        TestKafka.sendUsage(later);

        await().atMost(Duration.ofSeconds(60)).until(() -> ledgerRows(account) == 4);
        // And readiness, which checks a pooled connection too, is not held either.
        await().atMost(Duration.ofSeconds(30)).until(() -> readiness() == 200);
    }

    @Test
    void aBatchWhoseConnectionIsLostMidWayIsRecordedOnceOnANewOne() throws Exception {
        Instant at = Instant.parse("2026-03-10T12:00:00Z");
        String tier = MeteringFlowTest.tierPricedAt(1_000, Instant.parse("2026-01-01T00:00:00Z"));
        String account = unique("acct");
        TestKafka.sendUsage(List.of(completed(account, tier, at)));
        await().atMost(Duration.ofSeconds(30)).until(() -> ledgerRows(account) == 1);

        // Another session holds the daily totals, the batch's last write, for 6 s, on the server alone: the
        // consumer's next batch is caught inside its transaction, its ledger rows in.
        try (var held = TestDatabase.holdLock("account_daily_totals", 6)) {
            TestKafka.sendUsage(
                    List.of(completed(account, tier, at), completed(account, tier, at), completed(account, tier, at)));
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> TestDatabase.count("select count(*) from pg_stat_activity where wait_event_type ="
                                    + " 'Lock' and query like 'insert into account_daily_totals%'")
                            == 1);

            // Now its connection leads nowhere, mid-transaction: the consumer hears nothing, and the server keeps
            // the transaction open, its ledger rows locking their event ids, as it cannot tell the client is gone.
            database.blackHoleOpenConnections();

            // Given up on both sides, the batch goes in on a new connection: each of its events once.
            await().atMost(Duration.ofSeconds(90)).until(() -> ledgerRows(account) == 4);
        }
    }

    /** Counted on a connection of its own, opened now, so never one of the pool's lost ones. */
    private static long ledgerRows(String account) throws SQLException {
        return TestDatabase.count("select count(*) from usage_ledger where account_id = ?", account);
    }
}
