package io.flatfare.metering;

import static io.flatfare.metering.Events.unique;
import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasKey;

import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.specification.RequestSpecification;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

@QuarkusTest
@WithTestResource(KafkaTestResource.class)
@WithTestResource(PostgresTestResource.class)
class RateCardAdminTest {

    static RequestSpecification admin() {
        return given().header("Authorization", "Bearer test-admin-token").contentType(ContentType.JSON);
    }

    static Map<String, Object> price(long micros, String from) {
        return Map.of("price_micros", micros, "currency", "USD", "effective_from", from);
    }

    @Test
    void withoutATokenIs401AndWithAWrongOneIs403() {
        given().get("/admin/price-tiers")
                .then()
                .statusCode(401)
                .body("error.type", equalTo("authentication_error"))
                .body("error", hasKey("param"));
        given().header("Authorization", "Bearer nope")
                .get("/admin/plans")
                .then()
                .statusCode(403)
                .body("error.code", equalTo("invalid_admin_token"));
    }

    @Test
    void tierPricesAreVersionedAndAppendOnly() {
        String tier = unique("t");
        admin().body(price(1_000, "2026-01-01T00:00:00Z"))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(201)
                .body("version", equalTo(1));
        admin().body(price(1_500, "2026-02-01T00:00:00Z"))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(201)
                .body("version", equalTo(2));
        // Not after the current version: it would rewrite history.
        admin().body(price(900, "2026-01-15T00:00:00Z"))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(409)
                .body("error.code", equalTo("not_after_current_version"))
                .body("error.param", equalTo("effective_from"));
        admin().get("/admin/price-tiers/" + tier)
                .then()
                .statusCode(200)
                .body("object", equalTo("list"))
                .body("data.price_micros", contains(1_000, 1_500));
    }

    @Test
    void thePriceListShowsEachTiersPriceInForceAndTheScheduledOnesWithoutAToken() {
        String tier = unique("t");
        String later = Instant.now().plus(Duration.ofDays(1)).toString();
        admin().body(price(1_000, "2026-01-01T00:00:00Z")).post("/admin/price-tiers/" + tier);
        admin().body(price(1_500, "2026-02-01T00:00:00Z")).post("/admin/price-tiers/" + tier);
        admin().body(price(2_000, later))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(201);

        given().get("/prices")
                .then()
                .statusCode(200)
                .body("object", equalTo("list"))
                .body("data.findAll { it.tier == '" + tier + "' }.price_micros", contains(1_500, 2_000))
                .body("data.findAll { it.tier == '" + tier + "' }.version", contains(2, 3))
                .body("data.findAll { it.tier == '" + tier + "' }.currency", contains("USD", "USD"));
    }

    @Test
    void aPriceMayNotPredateRequestsAlreadyRatedUnderTheOldOne() {
        String tier = unique("t");
        admin().body(price(1_000, "2026-01-01T00:00:00Z")).post("/admin/price-tiers/" + tier);
        String account = unique("acct");
        TestKafka.sendUsage(List.of(Events.completed(account, tier, Instant.parse("2026-03-10T00:00:00Z"))));
        // Rated first (a POST racing the consumer could land before the event and be accepted).
        org.awaitility.Awaitility.await()
                .atMost(Duration.ofSeconds(30))
                .until(() -> given().header("Authorization", "Bearer test-finance-token")
                                .get("/finance/accounts/" + account
                                        + "/usage?granularity=day&from=2026-03-10&to=2026-03-10")
                                .then()
                                .statusCode(200)
                                .extract()
                                .jsonPath()
                                .getList("data")
                                .size()
                        == 1);
        admin().body(price(2_000, "2026-03-01T00:00:00Z"))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(409)
                .body("error.code", equalTo("would_rewrite_history"));
    }

    @Test
    void moneyIsIntegerMicrosInTheDeploymentCurrency() {
        String tier = unique("t");
        admin().body(Map.of("price_micros", 1.5, "currency", "USD"))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(400)
                .body("error.type", equalTo("invalid_request_error"));
        admin().body(Map.of("price_micros", 1_000, "currency", "EUR"))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(400)
                .body("error.param", equalTo("currency"));
        admin().body(Map.of("price_micros", -1, "currency", "USD"))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(400)
                .body("error.param", equalTo("price_micros"));
        // Two requests at Long.MAX_VALUE would overflow a day's total.
        admin().body(Map.of("price_micros", Long.MAX_VALUE, "currency", "USD"))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(400)
                .body("error.param", equalTo("price_micros"))
                .body("error.message", containsString("1000000000000"));
        String plan = unique("plan");
        admin().body(Map.of("monthly_fee_micros", 1_000_000_000_001L, "included_requests", 0, "currency", "USD"))
                .post("/admin/plans/" + plan)
                .then()
                .statusCode(400)
                .body("error.param", equalTo("monthly_fee_micros"));
        admin().body(Map.of(
                        "monthly_fee_micros", 0, "included_requests", 0, "overage_price_micros", -5, "currency", "USD"))
                .post("/admin/plans/" + plan)
                .then()
                .statusCode(400)
                .body("error.param", equalTo("overage_price_micros"));
        admin().body(Map.of("price_micros", 1_000_000_000_000L, "currency", "USD"))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(201);
    }

    /** Values PostgreSQL cannot hold were sent to it and answered 500 (a NUL in a plan id, a time past 9999). */
    @Test
    void aValueTheDatabaseCannotHoldIs400() {
        String account = unique("acct");
        String tier = unique("t");
        String plan = unique("pro");
        admin().body(Map.of("monthly_fee_micros", 0, "included_requests", 0, "currency", "USD"))
                .post("/admin/plans/" + plan)
                .then()
                .statusCode(201);
        for (String from :
                List.of("+999999999-12-31T23:59:59Z", "-999999999-01-01T00:00:00Z", "+10000-01-01T00:00:00Z")) {
            admin().body(Map.of("price_micros", 5, "currency", "USD", "effective_from", from))
                    .post("/admin/price-tiers/" + tier)
                    .then()
                    .statusCode(400)
                    .body("error.param", equalTo("effective_from"));
            admin().body(Map.of(
                            "monthly_fee_micros", 1, "included_requests", 1, "currency", "USD", "effective_from", from))
                    .post("/admin/plans/" + unique("far"))
                    .then()
                    .statusCode(400)
                    .body("error.param", equalTo("effective_from"));
            admin().body(Map.of("plan_id", plan, "effective_from", from))
                    .post("/admin/accounts/" + account + "/plan")
                    .then()
                    .statusCode(400)
                    .body("error.param", equalTo("effective_from"));
        }
        admin().body(Map.of("plan_id", plan + "\u0000"))
                .post("/admin/accounts/" + account + "/plan")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("plan_id"));
        // A plan id goes into every rated usage record of its accounts, whose contract refuses C1 controls and
        // unpaired surrogates: such a plan would have made every usage event of its accounts unrecordable.
        admin().urlEncodingEnabled(false)
                .body(Map.of("monthly_fee_micros", 0, "included_requests", 0, "currency", "USD"))
                .post("/admin/plans/" + plan + "%C2%85x")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("plan_id"))
                .body("error.message", containsString("control characters"));
        // (A body with an unpaired surrogate escape is refused whatever the field, before this check.)
        admin().body("{\"plan_id\": \"" + plan + "\\uD800x\"}")
                .post("/admin/accounts/" + account + "/plan")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("plan_id"));
        for (String url : List.of("/admin/plans/p%00", "/admin/price-tiers/t%00", "/admin/accounts/a%00/plan")) {
            admin().urlEncodingEnabled(false)
                    .get(url)
                    .then()
                    .statusCode(400)
                    .body("error.code", equalTo("invalid_url"));
        }
        // The last instant there is, and nothing was written by the refusals.
        admin().body(Map.of("price_micros", 5, "currency", "USD", "effective_from", "9999-12-31T23:59:59Z"))
                .post("/admin/price-tiers/" + tier)
                .then()
                .statusCode(201)
                .body("version", equalTo(1));
    }

    @Test
    void anAccountCanOnlyBeAssignedAnExistingPlan() {
        String account = unique("acct");
        admin().body(Map.of("plan_id", unique("missing")))
                .post("/admin/accounts/" + account + "/plan")
                .then()
                .statusCode(404)
                .body("error.code", equalTo("plan_not_found"));
        String plan = unique("pro");
        admin().body(Map.of("monthly_fee_micros", 20_000_000, "included_requests", 1000, "currency", "USD"))
                .post("/admin/plans/" + plan)
                .then()
                .statusCode(201)
                .body("overage_price_micros", equalTo(null));
        admin().body(Map.of("plan_id", plan))
                .post("/admin/accounts/" + account + "/plan")
                .then()
                .statusCode(201);
        admin().get("/admin/accounts/" + account + "/plan")
                .then()
                .statusCode(200)
                .body("data.plan_id", contains(plan));
    }
}
