package io.flatfare.metering;

import static io.flatfare.metering.Events.completed;
import static io.flatfare.metering.Events.rejected;
import static io.flatfare.metering.Events.unique;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.empty;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.nullValue;

import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.metering.service.Intake;
import io.flatfare.metering.service.LedgerService;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import io.restassured.specification.RequestSpecification;
import jakarta.inject.Inject;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * Reconciliation of a source's per-account per-day counts with the ledger: every kind of difference with both
 * counts, CSV in and out, paging, limits and tenant isolation. Each test uses days of its own (in 2031, which
 * no other test writes), since the database is shared and the every-account form sees all of a day.
 */
@QuarkusTest
@WithTestResource(KafkaTestResource.class)
@WithTestResource(PostgresTestResource.class)
class ReconciliationTest {

    @Inject
    LedgerService ledgerService;

    static String tier;

    static RequestSpecification finance() {
        return given().header("Authorization", "Bearer test-finance-token");
    }

    static Map<String, Object> row(String account, String day, long requests, Long billable) {
        Map<String, Object> row = new HashMap<>();
        row.put("account_id", account);
        row.put("day", day);
        row.put("requests", requests);
        if (billable != null) {
            row.put("billable_requests", billable);
        }
        return row;
    }

    static Map<String, Object> body(String from, String to, List<Map<String, Object>> rows) {
        Map<String, Object> body = new HashMap<>();
        body.put("rows", rows);
        if (from != null) {
            body.put("from", from);
            body.put("to", to);
        }
        return body;
    }

    String tier() {
        if (tier == null) {
            tier = unique("t");
            FinanceApiTest.addPrice(tier, 1_000, "2030-01-01T00:00:00Z");
        }
        return tier;
    }

    /** {@code billable} completed and {@code rejected} rejected requests of the account at noon UTC that day. */
    void ledger(String account, String day, int billable, int rejected) {
        Instant at = Instant.parse(day + "T12:00:00Z");
        List<UsageEvent> events = new ArrayList<>();
        IntStream.range(0, billable).forEach(i -> events.add(completed(account, tier(), at)));
        IntStream.range(0, rejected).forEach(i -> events.add(rejected(account, at)));
        ledgerService.record(IntStream.range(0, events.size())
                .mapToObj(i -> new Intake(events.get(i), 0, i))
                .toList());
    }

    @Test
    void reportsEveryDifferenceWithBothCounts() {
        String base = unique("rec");
        String a = base + "-a";
        String b = base + "-b";
        String c = base + "-c";
        String d = base + "-d";
        ledger(a, "2031-01-10", 2, 1); // 3 requests, 2 billable: matched
        ledger(a, "2031-01-11", 1, 0); // the source counted 2
        ledger(b, "2031-01-10", 1, 1); // absent from the source
        ledger(d, "2031-01-12", 2, 0); // same total, but the source says 1 billable

        finance()
                .contentType(ContentType.JSON)
                .body(body(
                        "2031-01-10",
                        "2031-01-12",
                        List.of(
                                row(a, "2031-01-10", 3, 2L),
                                row(a, "2031-01-11", 2, null),
                                row(a, "2031-01-12", 0, null), // zero on both sides: no difference
                                row(c, "2031-01-12", 5, 5L),
                                row(d, "2031-01-12", 2, 1L))))
                .post("/finance/reconciliation")
                .then()
                .statusCode(200)
                .body("object", equalTo("reconciliation"))
                .body("from", equalTo("2031-01-10"))
                .body("to", equalTo("2031-01-12"))
                .body("source_rows", equalTo(5))
                .body("data.account_id", contains(a, b, c, d))
                .body("data.day", contains("2031-01-11", "2031-01-10", "2031-01-12", "2031-01-12"))
                .body(
                        "data.kind",
                        contains("count_mismatch", "missing_in_source", "missing_in_ledger", "count_mismatch"))
                .body("data.source_requests", contains(2, null, 5, 2))
                .body("data.ledger_requests", contains(1, 2, null, 2))
                .body("data.source_billable_requests", contains(null, null, 5, 1))
                .body("data.ledger_billable_requests", contains(1, 1, null, 2))
                .body("has_more", equalTo(false))
                .body("next_after", nullValue());
    }

    @Test
    void pagesWithACursorAndSpeaksCsvBothWays() {
        String base = unique("rec");
        for (int i = 0; i < 5; i++) {
            ledger(base + "-" + i, "2031-02-03", 1, 0);
        }
        // An empty source over the day: every ledger row is missing in it.
        Map<String, Object> empty = body("2031-02-03", "2031-02-03", List.of());
        Response first = finance().contentType(ContentType.JSON).body(empty).post("/finance/reconciliation?limit=3");
        first.then()
                .statusCode(200)
                .body("data.account_id", contains(base + "-0", base + "-1", base + "-2"))
                .body("has_more", equalTo(true))
                .body("next_after", equalTo(base + "-2@2031-02-03"));
        finance()
                .contentType(ContentType.JSON)
                .body(empty)
                .post("/finance/reconciliation?limit=3&after=" + first.path("next_after"))
                .then()
                .statusCode(200)
                .body("data.account_id", contains(base + "-3", base + "-4"))
                .body("has_more", equalTo(false));

        // The same source as CSV, the answer as CSV with the cursor in a header.
        String csv = "account_id,day,requests,billable_requests\r\n"
                + base + "-0,2031-02-03,1,1\r\n"
                + "\"" + base + "-1\",2031-02-03,4,\r\n";
        Response page = finance()
                .contentType("text/csv")
                .accept("text/csv")
                .body(csv)
                .post("/finance/reconciliation?from=2031-02-03&to=2031-02-03&limit=2");
        page.then().statusCode(200).header("Flatfare-Next-After", base + "-2@2031-02-03");
        assertThat(page.asString())
                .isEqualTo("account_id,day,kind,source_requests,ledger_requests,source_billable_requests,"
                        + "ledger_billable_requests\r\n"
                        + base + "-1,2031-02-03,count_mismatch,4,1,,1\r\n"
                        + base + "-2,2031-02-03,missing_in_source,,1,,1\r\n");
    }

    @Test
    void anAccountTokenReconcilesItsOwnAccountOnly() {
        ledger("fin-a", "2031-03-05", 2, 0);
        ledger("fin-b", "2031-03-05", 1, 0);
        Map<String, Object> own = body(null, null, List.of(row("fin-a", "2031-03-05", 3, null)));

        // Its own account: only its own day is compared, fin-b's ledger row of that day is not reported.
        given().header("Authorization", "Bearer test-token-a")
                .contentType(ContentType.JSON)
                .body(own)
                .post("/finance/accounts/fin-a/reconciliation")
                .then()
                .statusCode(200)
                .body("account_id", equalTo("fin-a"))
                .body("data.account_id", contains("fin-a"))
                .body("data.source_requests", contains(3))
                .body("data.ledger_requests", contains(2));
        // A row of another account on its own path would reveal that account's count.
        given().header("Authorization", "Bearer test-token-a")
                .contentType(ContentType.JSON)
                .body(body(null, null, List.of(row("fin-b", "2031-03-05", 3, null))))
                .post("/finance/accounts/fin-a/reconciliation")
                .then()
                .statusCode(403)
                .body("error.code", equalTo("account_forbidden"))
                .body("error.param", equalTo("rows[0].account_id"));
        given().header("Authorization", "Bearer test-token-a")
                .contentType(ContentType.JSON)
                .body(own)
                .post("/finance/accounts/fin-b/reconciliation")
                .then()
                .statusCode(403)
                .body("error.code", equalTo("account_forbidden"));
        given().header("Authorization", "Bearer test-token-a")
                .contentType("text/csv")
                .body("account_id,day,requests\r\nfin-a,2031-03-05,3\r\n")
                .post("/finance/reconciliation")
                .then()
                .statusCode(403);
        given().contentType(ContentType.JSON)
                .body(own)
                .post("/finance/reconciliation")
                .then()
                .statusCode(401)
                .body("error.code", equalTo("missing_token"));
        given().header("Authorization", "Bearer test-admin-token")
                .contentType(ContentType.JSON)
                .body(own)
                .post("/finance/accounts/fin-a/reconciliation")
                .then()
                .statusCode(401)
                .body("error.code", equalTo("invalid_token"));
        // The finance token may use the per-account form as well.
        finance()
                .contentType(ContentType.JSON)
                .body(own)
                .post("/finance/accounts/fin-a/reconciliation")
                .then()
                .statusCode(200)
                .body("data.account_id", contains("fin-a"));
    }

    @Test
    void refusesAmbiguousOrOversizedSources() {
        String account = unique("rec");
        finance()
                .contentType(ContentType.JSON)
                .body(body(
                        null, null, List.of(row(account, "2031-04-01", 1, null), row(account, "2031-04-01", 2, null))))
                .post("/finance/reconciliation")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("rows[1]"));
        finance()
                .contentType(ContentType.JSON)
                .body(body("2031-04-01", "2031-05-02", List.of()))
                .post("/finance/reconciliation")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("to"));
        finance()
                .contentType(ContentType.JSON)
                .body(body("2031-04-01", "2031-04-02", List.of()))
                .post("/finance/reconciliation?limit=many")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("limit"));
        finance()
                .contentType(ContentType.JSON)
                .body(body("2031-04-01", "2031-04-02", List.of(row(account, "2031-04-03", 1, null))))
                .post("/finance/reconciliation")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("rows[0].day"));
        finance()
                .contentType(ContentType.JSON)
                .body(body(null, null, List.of(row(account, "2031-04-01", 1, 2L))))
                .post("/finance/reconciliation")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("rows[0].billable_requests"));
        finance()
                .contentType("text/csv")
                .body("account_id,day,requests\r\n" + account + ",2031-04-01,many\r\n")
                .post("/finance/reconciliation")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("rows[0].requests"));
        List<Map<String, Object>> tooMany = IntStream.range(0, 10_001)
                .mapToObj(i -> row(account + "-" + i, "2031-04-01", 1, null))
                .toList();
        finance()
                .contentType(ContentType.JSON)
                .body(body(null, null, tooMany))
                .post("/finance/reconciliation")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("rows"));
        // Days PostgreSQL does not hold: the far past was read back as another day (-999999999-01-01 as 7565-03-15)
        // and answered as a difference on it, the far future was a 500. And a NUL it cannot compare, also a 500.
        for (String day : List.of("-999999999-01-01", "+999999999-01-01", "0000-01-01")) {
            finance()
                    .contentType(ContentType.JSON)
                    .body(body(null, null, List.of(row(account, day, 1, null))))
                    .post("/finance/reconciliation")
                    .then()
                    .statusCode(400)
                    .body("error.param", equalTo("rows[0].day"));
        }
        finance()
                .contentType(ContentType.JSON)
                .body(body(null, null, List.of(row(account + "\u0000", "2031-04-01", 1, null))))
                .post("/finance/reconciliation")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("rows[0].account_id"));
        // Nothing anywhere on a day without usage: no differences.
        finance()
                .contentType(ContentType.JSON)
                .body(body("2031-04-20", "2031-04-20", List.of()))
                .post("/finance/reconciliation")
                .then()
                .statusCode(200)
                .body("data", empty());
    }
}
