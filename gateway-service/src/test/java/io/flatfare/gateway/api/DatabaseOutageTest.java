package io.flatfare.gateway.api;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.nullValue;

import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.gateway.api.Tenants.Tenant;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.ProxiedPostgresResource;
import io.flatfare.testing.postgres.TestDatabase;
import io.flatfare.testing.redis.RedisTestResource;
import io.flatfare.testing.support.TcpProxy;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.config.HttpClientConfig;
import io.restassured.config.RestAssuredConfig;
import io.restassured.http.ContentType;
import io.restassured.response.ValidatableResponse;
import jakarta.inject.Inject;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;

/**
 * The gateway while its own PostgreSQL (accounts, keys, stored responses) cannot be reached: keys in use keep
 * working on their last answer, so requests are still served and billed (usage goes to Kafka); a key never read
 * gets a 503 to retry, the admin API too; nothing is a 500, and all of it recovers when the database is back. A
 * database that hangs instead holds no request longer than the lookup timeout or the stored responses' database
 * timeout.
 */
@QuarkusTest
@TestProfile(DatabaseOutageTest.ShortKeyCache.class)
@WithTestResource(ProxiedPostgresResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
class DatabaseOutageTest {

    private static final Duration CACHE_TTL = Duration.ofMillis(300);
    private static final Duration LOOKUP_TIMEOUT = Duration.ofMillis(500);
    /** A request that has not been answered by then hangs: the test fails instead of waiting with it. */
    private static final RestAssuredConfig HANG_GUARD = RestAssuredConfig.config()
            .httpClient(HttpClientConfig.httpClientConfig().setParam("http.socket.timeout", 20_000));

    /**
     * Cached answers expire quickly, so the test reaches the stale ones without a long wait; a lost connection is
     * given up in 3 s, and a transaction its client left, 3 s after its last statement.
     */
    public static class ShortKeyCache implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of(
                    "flatfare.gateway.auth.cache-ttl", CACHE_TTL.toMillis() + "ms",
                    "flatfare.gateway.auth.negative-cache-ttl", CACHE_TTL.toMillis() + "ms",
                    "flatfare.gateway.auth.stale-if-error", "5m",
                    "flatfare.gateway.auth.lookup-timeout", LOOKUP_TIMEOUT.toMillis() + "ms",
                    "flatfare.gateway.responses.database-timeout", "500ms",
                    "quarkus.datasource.jdbc.additional-jdbc-properties.socketTimeout", "3",
                    "quarkus.datasource.jdbc.new-connection-sql", "set idle_in_transaction_session_timeout = '3s'");
        }
    }

    TcpProxy database;

    @Inject
    Tenants tenants;

    @Test
    void keysInUseKeepWorkingOthersGetA503AndAllRecoverWhenTheDatabaseIsBack() {
        Tenant inUse = tenants.generous();
        Tenant neverRead = tenants.generous(); // created now, looked up only during the outage
        chat(inUse).statusCode(200);
        Instant lastRead = Instant.now();

        database.down();
        try {
            // The key's cached answer has expired: from here on, each lookup would have to reach the database.
            await().until(() -> Instant.now().isAfter(lastRead.plus(CACHE_TTL.multipliedBy(2))));

            chat(inUse).statusCode(200).body("usage.completion_tokens", greaterThan(0));
            chat(neverRead)
                    .statusCode(503)
                    .header("retry-after", "2")
                    .body("error.type", equalTo("server_error"))
                    .body("error.code", equalTo("auth_unavailable"))
                    .body("error.param", nullValue());
            // Still served after another TTL: the stale answer is asked for again, and stands again.
            Instant staleServed = Instant.now();
            await().until(() -> Instant.now().isAfter(staleServed.plus(CACHE_TTL.multipliedBy(2))));
            chat(inUse).statusCode(200);
            given().header("Authorization", "Bearer test-admin-token")
                    .get("/admin/accounts")
                    .then()
                    .statusCode(503)
                    .header("retry-after", "2")
                    .body("error.code", equalTo("database_unavailable"));
            // Every replica shares this database: taking them all out of service would turn its outage into the
            // gateway's, and the keys in use away with it.
            given().get("/q/health/ready").then().statusCode(200);
        } finally {
            database.up();
        }

        await().atMost(Duration.ofSeconds(30))
                .untilAsserted(() -> chat(neverRead).statusCode(200));
        chat(inUse).statusCode(200);
        given().header("Authorization", "Bearer test-admin-token")
                .get("/admin/accounts")
                .then()
                .statusCode(200);
    }

    @Test
    void aDatabaseThatHangsHoldsNoRequest() {
        Tenant inUse = tenants.generous();
        Tenant neverRead = tenants.generous();
        chat(inUse).statusCode(200);
        Instant lastRead = Instant.now();

        database.stall(); // connections stay open, nothing comes back: a frozen server or a lost network
        try {
            await().until(() -> Instant.now().isAfter(lastRead.plus(CACHE_TTL.multipliedBy(2))));

            chat(inUse).statusCode(200); // after the lookup timeout, on the last answer
            chat(neverRead).statusCode(503).body("error.code", equalTo("auth_unavailable"));
            chat(inUse).statusCode(200);
            // Stored responses: the answer goes out unstored, a retrieval is a 503 to retry.
            String id = given().config(HANG_GUARD)
                    .header("Authorization", inUse.bearer())
                    .contentType(ContentType.JSON)
                    .body(Map.of("model", OpenAiApiTest.MODEL, "input", "Hello", "max_output_tokens", 2))
                    .post("/v1/responses")
                    .then()
                    .statusCode(200)
                    .body("status", equalTo("incomplete"))
                    .body("store", equalTo(false))
                    .extract()
                    .path("id");
            given().config(HANG_GUARD)
                    .header("Authorization", inUse.bearer())
                    .get("/v1/responses/" + id)
                    .then()
                    .statusCode(503)
                    .header("retry-after", "2")
                    .body("error.code", equalTo("storage_unavailable"));
        } finally {
            database.resume();
        }

        await().atMost(Duration.ofSeconds(30))
                .untilAsserted(() -> chat(neverRead).statusCode(200));
    }

    @Test
    void anAdminWriteLostInTheMiddleOfItsTransactionLeavesNoRowLockedBehind() throws Exception {
        Tenant tenant = tenants.generous();
        // Another session holds the accounts' table for 6 s, on the server alone: a rename's update waits inside its
        // transaction; then its connection leads nowhere. The server runs the update once the lock is free and waits
        // for a commit that never comes, the account's row locked meanwhile.
        try (var held = TestDatabase.holdLock("accounts", 6);
                var thread = Executors.newVirtualThreadPerTaskExecutor()) {
            thread.submit(() -> rename(tenant, "lost"));
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> TestDatabase.count("select count(*) from pg_stat_activity where wait_event_type ="
                                    + " 'Lock' and query like 'update accounts%'")
                            == 1);
            database.blackHoleOpenConnections();

            // The server ends the abandoned transaction, and the account can be written again.
            await().atMost(Duration.ofSeconds(60))
                    .untilAsserted(() -> rename(tenant, "taken").statusCode(200).body("name", equalTo("taken")));
        }
    }

    private static ValidatableResponse rename(Tenant tenant, String name) {
        return given().config(HANG_GUARD)
                .header("Authorization", "Bearer test-admin-token")
                .contentType(ContentType.JSON)
                .body(Map.of("name", name))
                .patch("/admin/accounts/" + tenant.account())
                .then();
    }

    private static ValidatableResponse chat(Tenant tenant) {
        return given().config(HANG_GUARD)
                .header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(OpenAiApiTest.chat("max_tokens", 2))
                .post("/v1/chat/completions")
                .then();
    }
}
