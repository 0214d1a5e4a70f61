package io.flatfare.gateway.api.admin;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.containsInAnyOrder;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.hasKey;
import static org.hamcrest.Matchers.matchesPattern;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.notNullValue;
import static org.hamcrest.Matchers.nullValue;
import static org.hamcrest.Matchers.startsWith;

import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.flatfare.testing.support.RawHttp;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import io.restassured.specification.RequestSpecification;
import jakarta.inject.Inject;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
class AdminApiTest {

    private static final AtomicInteger SEQUENCE = new AtomicInteger();

    /** The application's own pool: a second driver registration would clash with Quarkus' class loader. */
    @Inject
    DataSource dataSource;

    static String unique(String prefix) {
        return prefix + "-" + System.nanoTime() % 1_000_000 + "-" + SEQUENCE.incrementAndGet();
    }

    static RequestSpecification admin() {
        return given().header("Authorization", "Bearer test-admin-token").contentType(ContentType.JSON);
    }

    static Map<String, Object> plan(String id) {
        Map<String, Object> plan = new HashMap<>();
        plan.put("id", id);
        plan.put("allowed_models", List.of("llama-3.3-70b"));
        plan.put("allowed_tiers", List.of("small"));
        plan.put("requests_per_minute", 30);
        plan.put("concurrent_requests", 2);
        plan.put("requests_per_month", 5_000);
        plan.put("max_prompt_chars", 20_000);
        plan.put("max_output_tokens", 1_024);
        return plan;
    }

    static String newAccount() {
        return admin().body(Map.of("name", "Acme", "plan_id", "developer"))
                .post("/admin/accounts")
                .then()
                .statusCode(201)
                .extract()
                .path("id");
    }

    @Test
    void withoutATokenIs401AndWithAWrongOneIs403() {
        given().get("/admin/accounts")
                .then()
                .statusCode(401)
                .header("WWW-Authenticate", "Bearer")
                .body("error.type", equalTo("authentication_error"))
                .body("error.code", equalTo("missing_admin_token"))
                .body("error", hasKey("param"));
        given().header("Authorization", "Basic dGVzdDp0ZXN0")
                .get("/admin/plans")
                .then()
                .statusCode(401);
        given().header("Authorization", "Bearer wrong-token")
                .contentType(ContentType.JSON)
                .body(Map.of("name", "x"))
                .post("/admin/accounts/x/keys")
                .then()
                .statusCode(403)
                .body("error.type", equalTo("permission_error"))
                .body("error.code", equalTo("invalid_admin_token"));
    }

    /**
     * Spellings of an admin path that a router might match while a prefix check on the path would not see "/admin":
     * each is refused for want of the token, or matches nothing.
     */
    @Test
    void noSpellingOfAnAdminPathGetsPastTheToken() {
        for (String target : List.of(
                "//admin/plans",
                "/./admin/plans",
                "/x/../admin/plans",
                "/%61dmin/plans",
                "/admin%2Fplans",
                "/admin;x=1/plans",
                "/admin/plans;x=1",
                "/admin/plans/",
                "/admin//plans",
                "/%2561dmin/plans")) {
            // Not half-closed (RawHttp.get): Vert.x drops the answer of a worker-thread request to such a client.
            RawHttp.Answer answer = RawHttp.stall(
                    "localhost",
                    RestAssured.port,
                    "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            assertThat(answer.status()).as(target + ": " + answer.body()).isIn(401, 404);
            assertThat(answer.body()).as(target).doesNotContain("\"allowed_models\"");
        }
    }

    @Test
    void theDefaultPlansAreSeeded() {
        admin().get("/admin/plans/developer")
                .then()
                .statusCode(200)
                .body("object", equalTo("plan"))
                .body("allowed_models", contains("*"))
                .body("requests_per_minute", equalTo(60))
                .body("concurrent_requests", equalTo(4))
                .body("requests_per_month", equalTo(10_000))
                .body("max_prompt_chars", equalTo(100_000))
                .body("max_output_tokens", equalTo(4_096));
        admin().get("/admin/plans").then().statusCode(200).body("data.id", hasItem("standard"));
    }

    @Test
    void plansAreCreatedReadAndReplaced() {
        String id = unique("plan");
        admin().body(plan(id))
                .post("/admin/plans")
                .then()
                .statusCode(201)
                .header("Location", startsWith("http"))
                .body("id", equalTo(id))
                .body("allowed_models", contains("llama-3.3-70b"))
                .body("allowed_tiers", contains("small"))
                .body("requests_per_month", equalTo(5_000));
        admin().get("/admin/plans").then().body("data.id", hasItem(id));

        Map<String, Object> replacement = new HashMap<>();
        replacement.put("allowed_tiers", List.of("small", "large"));
        replacement.put("requests_per_minute", 100);
        admin().body(replacement)
                .put("/admin/plans/" + id)
                .then()
                .statusCode(200)
                .body("allowed_models", org.hamcrest.Matchers.empty())
                .body("allowed_tiers", containsInAnyOrder("small", "large"))
                .body("requests_per_minute", equalTo(100))
                // Left out of a replacement: no limit any more.
                .body("concurrent_requests", nullValue())
                .body("max_output_tokens", nullValue());
        admin().get("/admin/plans/" + id).then().statusCode(200).body("requests_per_minute", equalTo(100));
    }

    @Test
    void planErrorsNameTheField() {
        String id = unique("plan");
        admin().body(plan(id)).post("/admin/plans").then().statusCode(201);
        admin().body(plan(id))
                .post("/admin/plans")
                .then()
                .statusCode(409)
                .body("error.type", equalTo("conflict_error"))
                .body("error.code", equalTo("plan_exists"));

        Map<String, Object> negative = plan(unique("plan"));
        negative.put("requests_per_minute", 0);
        admin().body(negative)
                .post("/admin/plans")
                .then()
                .statusCode(400)
                .body("error.type", equalTo("invalid_request_error"))
                .body("error.param", equalTo("requests_per_minute"));

        Map<String, Object> badModel = plan(unique("plan"));
        badModel.put("allowed_models", List.of("Not A Model"));
        admin().body(badModel)
                .post("/admin/plans")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("allowed_models"));

        Map<String, Object> nothingAllowed = plan(unique("plan"));
        nothingAllowed.remove("allowed_models");
        nothingAllowed.remove("allowed_tiers");
        admin().body(nothingAllowed)
                .post("/admin/plans")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("allowed_models"));

        Map<String, Object> noId = plan(null);
        admin().body(noId).post("/admin/plans").then().statusCode(400).body("error.param", equalTo("id"));
        admin().body(plan("Upper Case"))
                .post("/admin/plans")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("id"));
        admin().body("{\"id\": \"p\", \"requests_per_minute\": \"many\"}")
                .post("/admin/plans")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("requests_per_minute"));

        admin().body(plan("other-id"))
                .put("/admin/plans/" + id)
                .then()
                .statusCode(400)
                .body("error.param", equalTo("id"));
        admin().get("/admin/plans/" + unique("missing"))
                .then()
                .statusCode(404)
                .body("error.type", equalTo("not_found_error"))
                .body("error.code", equalTo("plan_not_found"));
        admin().body(plan(null)).put("/admin/plans/" + unique("missing")).then().statusCode(404);
    }

    @Test
    void accountsAreCreatedReadAndChanged() {
        String id = unique("acct");
        admin().body(Map.of("id", id, "name", "  Acme Corp  ", "plan_id", "developer"))
                .post("/admin/accounts")
                .then()
                .statusCode(201)
                .header("Location", startsWith("http"))
                .body("id", equalTo(id))
                .body("object", equalTo("account"))
                .body("name", equalTo("Acme Corp"))
                .body("plan_id", equalTo("developer"))
                .body("disabled", equalTo(false))
                .body("created_at", notNullValue());

        admin().body(Map.of("plan_id", "standard", "disabled", true))
                .patch("/admin/accounts/" + id)
                .then()
                .statusCode(200)
                .body("plan_id", equalTo("standard"))
                .body("disabled", equalTo(true))
                .body("name", equalTo("Acme Corp"));
        admin().get("/admin/accounts/" + id)
                .then()
                .statusCode(200)
                .body("plan_id", equalTo("standard"))
                .body("disabled", equalTo(true));
        given().header("Authorization", "Bearer test-admin-token")
                .contentType("application/merge-patch+json")
                .body("{\"name\": \"Acme Inc\", \"disabled\": false}")
                .patch("/admin/accounts/" + id)
                .then()
                .statusCode(200)
                .body("name", equalTo("Acme Inc"))
                .body("disabled", equalTo(false))
                .body("plan_id", equalTo("standard"));
        // Other tests share the database: the listings start right before this test's account.
        String before = id.substring(0, id.length() - 1);
        admin().queryParam("plan_id", "standard")
                .queryParam("after", before)
                .get("/admin/accounts")
                .then()
                .body("data.id", hasItem(id));
        admin().queryParam("plan_id", "developer")
                .queryParam("after", before)
                .get("/admin/accounts")
                .then()
                .body("data.id", not(hasItem(id)));

        String generated = newAccount();
        assertThat(generated).startsWith("acct_");
        admin().queryParam("after", generated.substring(0, generated.length() - 1))
                .get("/admin/accounts")
                .then()
                .statusCode(200)
                .body("data.id", hasItem(generated));
    }

    @Test
    void accountsAreListedAPageAtATimeInIdOrder() {
        String plan = unique("paged");
        admin().body(plan(plan)).post("/admin/plans").then().statusCode(201);
        for (String suffix : List.of("c", "a", "b")) {
            admin().body(Map.of("id", plan + "-" + suffix, "name", "Paged " + suffix, "plan_id", plan))
                    .post("/admin/accounts")
                    .then()
                    .statusCode(201);
        }
        admin().queryParam("plan_id", plan)
                .queryParam("limit", 2)
                .get("/admin/accounts")
                .then()
                .statusCode(200)
                .body("object", equalTo("list"))
                .body("data.id", equalTo(List.of(plan + "-a", plan + "-b")))
                .body("has_more", equalTo(true))
                .body("next_after", equalTo(plan + "-b"));
        admin().queryParam("plan_id", plan)
                .queryParam("limit", 2)
                .queryParam("after", plan + "-b")
                .get("/admin/accounts")
                .then()
                .statusCode(200)
                .body("data.id", equalTo(List.of(plan + "-c")))
                .body("has_more", equalTo(false))
                .body("next_after", nullValue());
        admin().queryParam("plan_id", plan)
                .get("/admin/accounts")
                .then()
                .body("data.id", equalTo(List.of(plan + "-a", plan + "-b", plan + "-c")));
        for (String bad : List.of("0", "1001", "abc")) {
            admin().queryParam("limit", bad)
                    .get("/admin/accounts")
                    .then()
                    .statusCode(400)
                    .body("error.param", equalTo("limit"))
                    .body("error.code", equalTo("invalid_value"));
        }
    }

    @Test
    void accountErrorsNameTheField() {
        String id = unique("acct");
        admin().body(Map.of("id", id, "name", "Acme", "plan_id", "developer"))
                .post("/admin/accounts")
                .then()
                .statusCode(201);
        admin().body(Map.of("id", id, "name", "Acme again", "plan_id", "developer"))
                .post("/admin/accounts")
                .then()
                .statusCode(409)
                .body("error.code", equalTo("account_exists"));
        admin().body(Map.of("name", "Acme", "plan_id", unique("missing")))
                .post("/admin/accounts")
                .then()
                .statusCode(404)
                .body("error.code", equalTo("plan_not_found"))
                .body("error.param", equalTo("plan_id"));
        admin().body(Map.of("name", " ", "plan_id", "developer"))
                .post("/admin/accounts")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("name"));
        admin().body(Map.of("name", "Acme"))
                .post("/admin/accounts")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("plan_id"));
        admin().body(Map.of("id", "has space", "name", "Acme", "plan_id", "developer"))
                .post("/admin/accounts")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("id"));
        admin().body(Map.of("plan_id", unique("missing")))
                .patch("/admin/accounts/" + id)
                .then()
                .statusCode(404)
                .body("error.param", equalTo("plan_id"));
        admin().body(Map.of("name", ""))
                .patch("/admin/accounts/" + id)
                .then()
                .statusCode(400)
                .body("error.param", equalTo("name"));
        admin().get("/admin/accounts/" + unique("missing"))
                .then()
                .statusCode(404)
                .body("error.code", equalTo("account_not_found"));
    }

    /** PostgreSQL cannot hold a NUL in text: such a name, id or cursor was a 500 (the database's refusal). */
    @Test
    void aNulOrAControlCharacterIsRefusedNotSentToTheDatabase() {
        String id = newAccount();
        for (String name : List.of("Acme\u0000", "two\nlines", "tab\tbed")) {
            admin().body(Map.of("name", name, "plan_id", "developer"))
                    .post("/admin/accounts")
                    .then()
                    .statusCode(400)
                    .body("error.param", equalTo("name"))
                    .body("error.message", equalTo("name must be one line without control characters."));
            admin().body(Map.of("name", name))
                    .patch("/admin/accounts/" + id)
                    .then()
                    .statusCode(400)
                    .body("error.param", equalTo("name"));
            admin().body(Map.of("name", name))
                    .post("/admin/accounts/" + id + "/keys")
                    .then()
                    .statusCode(400)
                    .body("error.param", equalTo("name"));
        }
        for (String url : List.of(
                "/admin/accounts?after=acct%00",
                "/admin/accounts?plan_id=developer%00",
                "/admin/accounts/" + id + "%00",
                "/admin/accounts/" + id + "/keys/key%00",
                "/admin/plans/developer%00")) {
            admin().urlEncodingEnabled(false)
                    .get(url)
                    .then()
                    .statusCode(400)
                    .body("error.code", equalTo("invalid_url"));
        }
        admin().get("/admin/accounts/" + id).then().statusCode(200).body("name", equalTo("Acme"));
    }

    @Test
    void aNewKeyIsShownOnceAndOnlyItsHashAndPrefixAreStored() throws SQLException {
        String account = newAccount();
        JsonPath created = admin().body(Map.of("name", "ci"))
                .post("/admin/accounts/" + account + "/keys")
                .then()
                .statusCode(201)
                .header("Cache-Control", org.hamcrest.Matchers.containsString("no-store"))
                .body("object", equalTo("api_key"))
                .body("account_id", equalTo(account))
                .body("name", equalTo("ci"))
                .body("status", equalTo("active"))
                .body("id", startsWith("key_"))
                .body("key", matchesPattern("sk-ff-[A-Za-z0-9_-]{43}"))
                .body("expires_at", nullValue())
                .extract()
                .jsonPath();
        String secret = created.getString("key");
        String keyId = created.getString("id");
        assertThat(created.getString("prefix")).hasSize(12).isEqualTo(secret.substring(0, 12));

        // Never again: not in the list, not in the key's own view, not as its hash.
        String list = admin().get("/admin/accounts/" + account + "/keys")
                .then()
                .statusCode(200)
                .body("data.id", contains(keyId))
                .body("data[0].prefix", equalTo(secret.substring(0, 12)))
                .body("data[0]", not(hasKey("key")))
                .body("data[0]", not(hasKey("hash")))
                .extract()
                .asString();
        String single = admin().get("/admin/accounts/" + account + "/keys/" + keyId)
                .then()
                .statusCode(200)
                .extract()
                .asString();
        Map<String, String> row = keyRow(keyId);
        for (String body : List.of(list, single)) {
            assertThat(body)
                    .doesNotContain(secret)
                    .doesNotContain(secret.substring(12))
                    .doesNotContain(row.get("hash"));
        }

        assertThat(row.get("hash")).matches("[0-9a-f]{64}").isEqualTo(sha256Hex(secret));
        assertThat(row.get("prefix")).isEqualTo(secret.substring(0, 12));
        // The secret's random part appears in no column, whole or in part beyond the visible prefix.
        for (var column : row.entrySet()) {
            assertThat(column.getValue())
                    .as(column.getKey())
                    .doesNotContain(secret)
                    .doesNotContain(secret.substring(12, 24));
        }
    }

    @Test
    void keysAreRevokedIdempotentlyAndMayExpire() {
        String account = newAccount();
        Instant expiry = Instant.now().plus(30, ChronoUnit.DAYS).truncatedTo(ChronoUnit.SECONDS);
        String keyId = admin().body(Map.of("name", "expiring", "expires_at", expiry.toString()))
                .post("/admin/accounts/" + account + "/keys")
                .then()
                .statusCode(201)
                .body("expires_at", equalTo(expiry.toString()))
                .extract()
                .path("id");

        String revokedAt = admin().delete("/admin/accounts/" + account + "/keys/" + keyId)
                .then()
                .statusCode(200)
                .body("status", equalTo("revoked"))
                .body("revoked_at", notNullValue())
                .extract()
                .path("revoked_at");
        admin().delete("/admin/accounts/" + account + "/keys/" + keyId)
                .then()
                .statusCode(200)
                .body("revoked_at", equalTo(revokedAt));
        admin().get("/admin/accounts/" + account + "/keys")
                .then()
                .body("data[0].status", equalTo("revoked"))
                .body("data[0].revoked_at", equalTo(revokedAt));

        admin().delete("/admin/accounts/" + account + "/keys/key_missing")
                .then()
                .statusCode(404)
                .body("error.code", equalTo("key_not_found"));
        // A key is found only under its own account.
        admin().delete("/admin/accounts/" + newAccount() + "/keys/" + keyId)
                .then()
                .statusCode(404);
    }

    @Test
    void keyErrorsNameTheField() {
        String account = newAccount();
        admin().body(Map.of("name", "late", "expires_at", "2020-01-01T00:00:00Z"))
                .post("/admin/accounts/" + account + "/keys")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("expires_at"));
        // Past what PostgreSQL's timestamps hold: was a 500.
        admin().body(Map.of("name", "far", "expires_at", "+999999999-12-31T23:59:59Z"))
                .post("/admin/accounts/" + account + "/keys")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("expires_at"))
                .body("error.message", equalTo("expires_at must be before the year 10000."));
        admin().body(Map.of("name", "far", "expires_at", "9999-12-31T23:59:59Z"))
                .post("/admin/accounts/" + account + "/keys")
                .then()
                .statusCode(201)
                .body("expires_at", equalTo("9999-12-31T23:59:59Z"));
        admin().body(Map.of("name", "bad", "expires_at", "next tuesday"))
                .post("/admin/accounts/" + account + "/keys")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("expires_at"));
        admin().body(Map.of())
                .post("/admin/accounts/" + account + "/keys")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("name"));
        admin().body(Map.of("name", "x"))
                .post("/admin/accounts/" + unique("missing") + "/keys")
                .then()
                .statusCode(404)
                .body("error.code", equalTo("account_not_found"));
        admin().get("/admin/accounts/" + unique("missing") + "/keys").then().statusCode(404);

        admin().body(Map.of("disabled", true))
                .patch("/admin/accounts/" + account)
                .then()
                .statusCode(200);
        admin().body(Map.of("name", "x"))
                .post("/admin/accounts/" + account + "/keys")
                .then()
                .statusCode(409)
                .body("error.code", equalTo("account_disabled"));
    }

    private Map<String, String> keyRow(String keyId) throws SQLException {
        try (var connection = dataSource.getConnection();
                var statement = connection.prepareStatement("select * from api_keys where id = ?")) {
            statement.setString(1, keyId);
            try (ResultSet rs = statement.executeQuery()) {
                assertThat(rs.next()).as("row of " + keyId).isTrue();
                ResultSetMetaData meta = rs.getMetaData();
                Map<String, String> row = new HashMap<>();
                List<String> nulls = new ArrayList<>();
                for (int i = 1; i <= meta.getColumnCount(); i++) {
                    String value = rs.getString(i);
                    if (value == null) {
                        nulls.add(meta.getColumnName(i));
                    } else {
                        row.put(meta.getColumnName(i), value);
                    }
                }
                assertThat(nulls).containsExactlyInAnyOrder("expires_at", "revoked_at");
                return row;
            }
        }
    }

    private static String sha256Hex(String value) {
        try {
            return java.util.HexFormat.of()
                    .formatHex(java.security.MessageDigest.getInstance("SHA-256")
                            .digest(value.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
