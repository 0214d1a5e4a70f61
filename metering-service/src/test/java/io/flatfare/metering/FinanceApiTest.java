package io.flatfare.metering;

import static io.flatfare.metering.Events.completed;
import static io.flatfare.metering.Events.rejected;
import static io.flatfare.metering.Events.unique;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.nullValue;

import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.metering.service.Intake;
import io.flatfare.metering.service.LedgerService;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.support.RawHttp;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import io.restassured.http.ContentType;
import io.restassured.specification.RequestSpecification;
import jakarta.inject.Inject;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * The finance API over ledger rows written through {@link LedgerService} (no Kafka round trip, so no
 * waiting): usage by day and month, CSV, paging, the invoice of a month with a price change, and tenant
 * isolation. Accounts {@code fin-a} and {@code fin-b} have account tokens in the test profile.
 */
@QuarkusTest
@WithTestResource(KafkaTestResource.class)
@WithTestResource(PostgresTestResource.class)
class FinanceApiTest {

    static final String FINANCE = "Bearer test-finance-token";
    static final Instant MAR_10 = Instant.parse("2026-03-10T09:00:00Z");
    static final Instant MAR_11 = Instant.parse("2026-03-11T23:59:59Z");
    static final Instant MAR_20 = Instant.parse("2026-03-20T10:00:00Z");
    static final Instant APR_02 = Instant.parse("2026-04-02T00:00:00Z");

    @Inject
    LedgerService ledgerService;

    static RequestSpecification finance() {
        return given().header("Authorization", FINANCE);
    }

    static RequestSpecification admin() {
        return given().header("Authorization", "Bearer test-admin-token").contentType(ContentType.JSON);
    }

    static void addPrice(String tier, long micros, String from) {
        admin().body(Map.of("price_micros", micros, "currency", "USD", "effective_from", from))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(201);
    }

    void record(List<UsageEvent> events) {
        ledgerService.record(IntStream.range(0, events.size())
                .mapToObj(i -> new Intake(events.get(i), 0, i))
                .toList());
    }

    @Test
    void usageByDayAndByMonthWithAModelFilter() {
        String tier = unique("t");
        addPrice(tier, 1_000, "2026-01-01T00:00:00Z");
        String account = unique("acct");
        record(List.of(
                completed(account, tier, MAR_10),
                completed(account, tier, MAR_10),
                rejected(account, MAR_10),
                completed(account, tier, MAR_11),
                completed(account, tier, APR_02)));

        finance()
                .get("/finance/accounts/" + account + "/usage?granularity=day&from=2026-03-01&to=2026-04-30")
                .then()
                .statusCode(200)
                .body("object", equalTo("list"))
                .body("data.period", contains("2026-03-10", "2026-03-11", "2026-04-02"))
                .body("data.requests", contains(3, 1, 1))
                .body("data.billable_requests", contains(2, 1, 1))
                .body("data.amount_micros", contains(2_000, 1_000, 1_000))
                .body("data[0].currency", equalTo("USD"))
                .body("has_more", equalTo(false))
                .body("next_after", nullValue());

        // "to" is inclusive and the range cuts the month rows.
        finance()
                .get("/finance/accounts/" + account + "/usage?granularity=month&from=2026-03-11&to=2026-04-02")
                .then()
                .statusCode(200)
                .body("data.period", contains("2026-03", "2026-04"))
                .body("data.requests", contains(1, 1))
                .body("data.amount_micros", contains(1_000, 1_000));

        // The rejected request has no model: filtering by the model leaves it out.
        finance()
                .get("/finance/accounts/" + account
                        + "/usage?granularity=month&from=2026-03-01&to=2026-03-31&model=model-" + tier)
                .then()
                .statusCode(200)
                .body("data.requests", contains(3))
                .body("data[0].model", equalTo("model-" + tier));
        finance()
                .get("/finance/accounts/" + account
                        + "/usage?granularity=month&from=2026-03-01&to=2026-03-31&model=other")
                .then()
                .statusCode(200)
                .body("data.size()", equalTo(0));
    }

    @Test
    void badUsageParametersAre400WithTheParam() {
        String base = "/finance/accounts/x/usage";
        // A query that does not decode: refused in the envelope before anything else, credentials included.
        RawHttp.Answer malformed =
                RawHttp.get("localhost", RestAssured.port, base + "?granularity=day&from=%ZZ&to=2026-02-01");
        assertThat(malformed.status()).isEqualTo(400);
        assertThat(malformed.body()).contains("\"type\":\"invalid_request_error\"", "\"code\":\"invalid_url\"");
        finance()
                .get(base + "?granularity=week&from=2026-03-01&to=2026-03-02")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("granularity"));
        finance()
                .get(base + "?granularity=day&from=2026-03-01&to=2026-02-01")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("to"));
        finance()
                .get(base + "?granularity=day&from=yesterday&to=2026-02-01")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("from"));
        // Not only out of range: a limit that is not an int at all is the same 400 (JAX-RS would answer 404).
        for (String limit : List.of("0", "1001", "abc", "99999999999")) {
            finance()
                    .get(base + "?granularity=day&from=2026-03-01&to=2026-03-02&limit=" + limit)
                    .then()
                    .statusCode(400)
                    .body("error.param", equalTo("limit"))
                    .body("error.message", equalTo("'limit' must be between 1 and 1000."));
        }
        finance()
                .get(base + "?granularity=day&from=2026-03-01&to=2026-03-02&after=2026-03")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("after"));
        finance()
                .get("/finance/accounts/x/invoices/2026-13")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("billing_period"));
        // Years Java parses and PostgreSQL does not hold: the far future was a 500.
        for (String day : List.of("+999999999-01-01", "-999999999-01-01", "+10000-01-01", "0000-12-31")) {
            finance()
                    .get(base + "?granularity=day&from=" + day + "&to=2026-03-02")
                    .then()
                    .statusCode(400)
                    .body("error.param", equalTo("from"))
                    .body("error.message", equalTo("'from' must be in the years 1 to 9999."));
        }
        finance()
                .get("/finance/accounts/x/invoices/0000-01")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("billing_period"));
        // A NUL in the path or the query (PostgreSQL cannot compare one: a 500) is refused before anything else.
        for (String url : List.of(
                base + "?granularity=day&from=2026-03-01&to=2026-03-02&model=%00",
                "/finance/accounts/x%00/invoices/2026-12")) {
            finance()
                    .urlEncodingEnabled(false)
                    .get(url)
                    .then()
                    .statusCode(400)
                    .body("error.code", equalTo("invalid_url"));
        }
    }

    @Test
    void usagePagesWithTheAfterCursor() {
        String tier = unique("t");
        addPrice(tier, 1_000, "2026-01-01T00:00:00Z");
        String account = unique("acct");
        record(List.of(
                completed(account, tier, MAR_10), completed(account, tier, MAR_11), completed(account, tier, MAR_20)));
        String url = "/finance/accounts/" + account + "/usage?granularity=day&from=2026-03-01&to=2026-03-31&limit=2";

        String next = finance()
                .get(url)
                .then()
                .statusCode(200)
                .body("data.period", contains("2026-03-10", "2026-03-11"))
                .body("has_more", equalTo(true))
                .body("next_after", equalTo("2026-03-11"))
                .extract()
                .path("next_after");
        finance()
                .get(url + "&after=" + next)
                .then()
                .statusCode(200)
                .body("data.period", contains("2026-03-20"))
                .body("has_more", equalTo(false))
                .body("next_after", nullValue());
        // CSV pages the same way, the cursor in a header.
        finance().accept("text/csv").get(url).then().statusCode(200).header("Flatfare-Next-After", "2026-03-11");
    }

    @Test
    void usageAsCsvHasAHeaderRow() {
        String tier = unique("t");
        addPrice(tier, 1_000, "2026-01-01T00:00:00Z");
        String account = unique("acct");
        record(List.of(completed(account, tier, MAR_10), rejected(account, MAR_10)));
        String url = "/finance/accounts/" + account + "/usage?granularity=day&from=2026-03-01&to=2026-03-31";

        String byAccept = finance()
                .accept("text/csv")
                .get(url)
                .then()
                .statusCode(200)
                .contentType(org.hamcrest.Matchers.startsWith("text/csv"))
                .extract()
                .asString();
        assertThat(byAccept)
                .isEqualTo(
                        "account_id,period,model,requests,billable_requests,included_requests,amount_micros,currency\r\n"
                                + account + ",2026-03-10,,2,1,0,1000,USD\r\n");
        String byFormat = finance()
                .get(url + "&format=csv")
                .then()
                .statusCode(200)
                .extract()
                .asString();
        assertThat(byFormat).isEqualTo(byAccept);
    }

    @Test
    void anInvoiceHasALinePerPriceWithIncludedRequestsFeeAndTotal() {
        // Lines are ordered by tier name: "a-…" before "b-…".
        String tier = unique("a");
        addPrice(tier, 1_000, "2026-01-01T00:00:00Z");
        addPrice(tier, 1_500, "2026-03-15T00:00:00Z");
        String other = unique("b");
        addPrice(other, 4_000, "2026-01-01T00:00:00Z");
        String plan = unique("team");
        admin().body(Map.of(
                        "monthly_fee_micros",
                        5_000_000,
                        "included_requests",
                        2,
                        "currency",
                        "USD",
                        "effective_from",
                        "2026-01-01T00:00:00Z"))
                .post("/admin/plans/" + plan)
                .then()
                .statusCode(201);
        String account = unique("acct");
        admin().body(Map.of("plan_id", plan, "effective_from", "2026-02-01T00:00:00Z"))
                .post("/admin/accounts/" + account + "/plan")
                .then()
                .statusCode(201);
        // Rated in this order: the first two billable requests are the plan's included ones.
        record(List.of(
                completed(account, tier, MAR_10),
                completed(account, tier, MAR_10),
                rejected(account, MAR_10),
                completed(account, tier, MAR_11),
                completed(account, tier, MAR_20),
                completed(account, tier, MAR_20),
                completed(account, other, MAR_20),
                completed(account, tier, APR_02)));

        finance()
                .get("/finance/accounts/" + account + "/invoices/2026-03")
                .then()
                .statusCode(200)
                .body("account_id", equalTo(account))
                .body("billing_period", equalTo("2026-03"))
                .body("currency", equalTo("USD"))
                .body("plan_id", equalTo(plan))
                .body("monthly_fee_micros", equalTo(5_000_000))
                .body("requests", equalTo(7))
                .body("billable_requests", equalTo(6))
                .body("included_requests", equalTo(2))
                .body("overage_requests", equalTo(4))
                .body("lines.kind", contains("included", "usage", "usage", "usage"))
                .body("lines.price_tier", contains(tier, tier, tier, other))
                .body("lines.unit_price_micros", contains(0, 1_000, 1_500, 4_000))
                .body("lines.requests", contains(2, 1, 2, 1))
                .body("lines.amount_micros", contains(0, 1_000, 3_000, 4_000))
                .body("usage_amount_micros", equalTo(8_000))
                .body("total_micros", equalTo(5_008_000));

        String csv = finance()
                .get("/finance/accounts/" + account + "/invoices/2026-03?format=csv")
                .then()
                .statusCode(200)
                .extract()
                .asString();
        String p = account + ",2026-03,";
        assertThat(csv)
                .isEqualTo(
                        "account_id,billing_period,kind,price_tier,unit_price_micros,requests,amount_micros,currency\r\n"
                                + p + "included," + tier + ",0,2,0,USD\r\n"
                                + p + "usage," + tier + ",1000,1,1000,USD\r\n"
                                + p + "usage," + tier + ",1500,2,3000,USD\r\n"
                                + p + "usage," + other + ",4000,1,4000,USD\r\n"
                                + p + "monthly_fee,,5000000,1,5000000,USD\r\n"
                                + p + "total,,,6,5008000,USD\r\n");

        // A month without usage still owes the fee.
        finance()
                .get("/finance/accounts/" + account + "/invoices/2026-05")
                .then()
                .statusCode(200)
                .body("lines.size()", equalTo(0))
                .body("total_micros", equalTo(5_000_000));
    }

    @Test
    void anAccountTokenSeesOnlyItsOwnAccountOnEveryEndpoint() {
        String tier = unique("t");
        addPrice(tier, 1_000, "2026-01-01T00:00:00Z");
        record(List.of(completed("fin-a", tier, MAR_10), completed("fin-b", tier, MAR_10)));
        List<String> paths = List.of(
                "/usage?granularity=day&from=2026-03-01&to=2026-03-31",
                "/usage?granularity=month&from=2026-03-01&to=2026-03-31&format=csv",
                "/invoices/2026-03",
                "/invoices/2026-03?format=csv");
        for (String path : paths) {
            String a = "/finance/accounts/fin-a" + path;
            given().header("Authorization", "Bearer test-token-a").get(a).then().statusCode(200);
            given().header("Authorization", "Bearer test-token-b")
                    .get(a)
                    .then()
                    .statusCode(403)
                    .body("error.type", equalTo("permission_error"))
                    .body("error.code", equalTo("account_forbidden"));
            // An account token is not a finance token: other accounts, even unknown ones, are forbidden.
            given().header("Authorization", "Bearer test-token-a")
                    .get("/finance/accounts/" + unique("acct") + path)
                    .then()
                    .statusCode(403);
            finance().get(a).then().statusCode(200);
            given().get(a)
                    .then()
                    .statusCode(401)
                    .header("WWW-Authenticate", "Bearer")
                    .body("error.type", equalTo("authentication_error"))
                    .body("error.code", equalTo("missing_token"));
            given().header("Authorization", "Basic dGVzdDp0ZXN0").get(a).then().statusCode(401);
            given().header("Authorization", "Bearer ").get(a).then().statusCode(401);
            given().header("Authorization", "Bearer not-a-token")
                    .get(a)
                    .then()
                    .statusCode(401)
                    .header("WWW-Authenticate", "Bearer")
                    .body("error.code", equalTo("invalid_token"));
            // The admin token is not a finance token.
            given().header("Authorization", "Bearer test-admin-token")
                    .get(a)
                    .then()
                    .statusCode(401);
        }
        // And it sees its own data, not the other account's.
        given().header("Authorization", "Bearer test-token-a")
                .get("/finance/accounts/fin-a/invoices/2026-03")
                .then()
                .body("account_id", equalTo("fin-a"))
                .body("billable_requests", equalTo(1));
    }
}
