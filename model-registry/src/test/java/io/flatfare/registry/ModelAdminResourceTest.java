package io.flatfare.registry;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.endsWith;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.hasItems;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.nullValue;

import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.support.RawHttp;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import io.restassured.http.ContentType;
import io.restassured.specification.RequestSpecification;
import java.util.Map;
import org.junit.jupiter.api.Test;

@QuarkusTest
@WithTestResource(PostgresTestResource.class)
class ModelAdminResourceTest {

    static final String TOKEN = "test-admin-token";

    static RequestSpecification admin() {
        return given().header("Authorization", "Bearer " + TOKEN).contentType(ContentType.JSON);
    }

    static Map<String, Object> model(String id, Object aliases) {
        return Map.of(
                "id",
                id,
                "display_name",
                "Model " + id,
                "aliases",
                aliases,
                "owned_by",
                "acme",
                "capabilities",
                new String[] {"chat", "completion"},
                "context_length",
                8192,
                "max_output_tokens",
                1024,
                "price_tier",
                "small");
    }

    @Test
    void defaultCatalogIsCreatedByMigration() {
        admin().get("/admin/models")
                .then()
                .statusCode(200)
                .body("object", equalTo("list"))
                .body(
                        "data.id",
                        hasItems(
                                "llama-3.3-70b",
                                "deepseek-r1-70b",
                                "deepseek-v3.2",
                                "qwen-3-32b",
                                "mistral-7b",
                                "whisper-large-v3",
                                "flux-1-schnell",
                                "flatfare-tiny",
                                "flatfare-tiny-embed"));
        admin().get("/admin/models/whisper-large-v3")
                .then()
                .statusCode(200)
                .body("capabilities", equalTo(java.util.List.of("transcription")))
                .body("price_tier", equalTo("speech"))
                .body("aliases", hasItem("whisper-1"));
    }

    @Test
    void createReadUpdateRetire() {
        admin().body(model("crud-model", new String[] {"crud-alias", "Org/Crud-Model"}))
                .post("/admin/models")
                .then()
                .statusCode(201)
                .header("Location", endsWith("/admin/models/crud-model"))
                .body("id", equalTo("crud-model"))
                .body("status", equalTo("active"))
                .body("aliases", equalTo(java.util.List.of("Org/Crud-Model", "crud-alias")))
                .body("capabilities", equalTo(java.util.List.of("chat", "completion")));

        admin().get("/admin/models/crud-model").then().statusCode(200).body("context_length", equalTo(8192));

        var update = new java.util.HashMap<>(model("crud-model", new String[] {"crud-alias-2"}));
        update.remove("id");
        update.put("context_length", 16384);
        update.put("price_tier", "large");
        admin().body(update)
                .put("/admin/models/crud-model")
                .then()
                .statusCode(200)
                .body("context_length", equalTo(16384))
                .body("price_tier", equalTo("large"))
                .body("aliases", equalTo(java.util.List.of("crud-alias-2")));

        admin().delete("/admin/models/crud-model").then().statusCode(200).body("status", equalTo("retired"));
        admin().delete("/admin/models/crud-model").then().statusCode(200).body("status", equalTo("retired"));
        admin().get("/admin/models").then().body("data.id", not(hasItem("crud-model")));
        admin().get("/admin/models?include_retired=true").then().body("data.id", hasItem("crud-model"));
        admin().get("/admin/models?include_retired=yes")
                .then()
                .statusCode(400)
                .body("error.param", equalTo("include_retired"));
        // A retired id is never reused.
        admin().body(model("crud-model", new String[0]))
                .post("/admin/models")
                .then()
                .statusCode(409)
                .body("error.param", equalTo("id"));
    }

    @Test
    void invalidInputIsA400NamingTheField() {
        var missingName = new java.util.HashMap<>(model("bad-1", new String[0]));
        missingName.remove("display_name");
        expect400(missingName, "display_name");

        var zeroContext = new java.util.HashMap<>(model("bad-2", new String[0]));
        zeroContext.put("context_length", 0);
        expect400(zeroContext, "context_length");

        var outputOverContext = new java.util.HashMap<>(model("bad-3", new String[0]));
        outputOverContext.put("max_output_tokens", 9000);
        expect400(outputOverContext, "max_output_tokens");

        var badCapability = new java.util.HashMap<>(model("bad-4", new String[0]));
        badCapability.put("capabilities", new String[] {"telepathy"});
        expect400(badCapability, "capabilities[0]");

        expect400(model("Bad Id!", new String[0]), "id");
        expect400(model("bad-5", new String[] {"has space"}), "aliases");
        expect400(model("bad-6", new String[] {"bad-6"}), "aliases");

        // A NUL, which PostgreSQL cannot hold, was read as a taken name: 409 name_conflict. Line breaks neither.
        for (String text : new String[] {"a\u0000b", "two\nlines"}) {
            var badName = new java.util.HashMap<>(model("bad-8", new String[0]));
            badName.put("display_name", text);
            expect400(badName, "display_name");
            var badOwner = new java.util.HashMap<>(model("bad-9", new String[0]));
            badOwner.put("owned_by", text);
            expect400(badOwner, "owned_by");
        }

        var badTier = new java.util.HashMap<>(model("bad-7", new String[0]));
        badTier.put("price_tier", "");
        expect400(badTier, "price_tier");

        admin().body("{\"id\": \"broken\", ")
                .post("/admin/models")
                .then()
                .statusCode(400)
                .body("error.type", equalTo("invalid_request_error"))
                .body("error.code", equalTo("invalid_json"));
        admin().body("[]").post("/admin/models").then().statusCode(400).body("error.message", not(nullValue()));
        admin().get("/admin/models/bad-1").then().statusCode(404);
        admin().get("/admin/models/bad-8").then().statusCode(404);
    }

    private static void expect400(Object body, String param) {
        admin().body(body)
                .post("/admin/models")
                .then()
                .statusCode(400)
                .body("error.type", equalTo("invalid_request_error"))
                .body("error.param", equalTo(param))
                .body("error.message", containsString(param));
    }

    @Test
    void namesCollideAcrossIdsAndAliases() {
        admin().body(model("owner-a", new String[] {"shared-alias"}))
                .post("/admin/models")
                .then()
                .statusCode(201);

        // An alias already used by another model.
        admin().body(model("owner-b", new String[] {"shared-alias"}))
                .post("/admin/models")
                .then()
                .statusCode(409)
                .body("error.type", equalTo("conflict_error"))
                .body("error.param", equalTo("aliases"))
                .body("error.message", containsString("owner-a"));
        // An alias equal to another model's id.
        admin().body(model("owner-c", new String[] {"mistral-7b"}))
                .post("/admin/models")
                .then()
                .statusCode(409)
                .body("error.param", equalTo("aliases"));
        // An id equal to another model's alias.
        admin().body(model("shared-alias", new String[0]))
                .post("/admin/models")
                .then()
                .statusCode(409)
                .body("error.param", equalTo("id"));
        // A duplicate id.
        admin().body(model("owner-a", new String[0]))
                .post("/admin/models")
                .then()
                .statusCode(409);
        // An update may not steal an alias either, and a rejected write changes nothing.
        var steal = new java.util.HashMap<>(model("flatfare-tiny", new String[] {"shared-alias"}));
        admin().body(steal).put("/admin/models/flatfare-tiny").then().statusCode(409);
        admin().get("/admin/models/flatfare-tiny").then().body("aliases", equalTo(java.util.List.of("tiny")));
        admin().get("/admin/models/owner-b").then().statusCode(404);
    }

    /**
     * Creates racing for one alias: exactly one wins, every other is a 409, whether the checks or the database's
     * unique key caught it (the latter, and only it, is a conflict among the database's failures).
     */
    @Test
    void createsRacingForOneAliasGiveOneModelAndConflicts() throws Exception {
        for (int round = 0; round < 5; round++) {
            String alias = "race-alias-" + round;
            int racers = 8;
            var start = new java.util.concurrent.CountDownLatch(1);
            var pool = java.util.concurrent.Executors.newFixedThreadPool(racers);
            try {
                var statuses = new java.util.ArrayList<java.util.concurrent.Future<Integer>>();
                for (int i = 0; i < racers; i++) {
                    Map<String, Object> body = model("race-" + round + "-" + i, new String[] {alias});
                    statuses.add(pool.submit(() -> {
                        start.await();
                        return admin().body(body).post("/admin/models").statusCode();
                    }));
                }
                start.countDown();
                var seen = new java.util.ArrayList<Integer>();
                for (var status : statuses) {
                    seen.add(status.get(60, java.util.concurrent.TimeUnit.SECONDS));
                }
                assertThat(seen).as("round " + round).containsOnlyOnce(201).containsOnly(201, 409);
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void unknownIdsAre404() {
        admin().get("/admin/models/nope")
                .then()
                .statusCode(404)
                .body("error.type", equalTo("not_found_error"))
                .body("error.code", equalTo("model_not_found"));
        var update = new java.util.HashMap<>(model("nope", new String[0]));
        admin().body(update).put("/admin/models/nope").then().statusCode(404);
        admin().delete("/admin/models/nope").then().statusCode(404);
    }

    @Test
    void aMalformedUrlIs400InTheEnvelope() {
        // Before authentication: nothing of the request is looked at.
        RawHttp.Answer answer = RawHttp.get("localhost", RestAssured.port, "/admin/models/%ZZ");
        assertThat(answer.status()).isEqualTo(400);
        assertThat(answer.body()).contains("\"type\":\"invalid_request_error\"", "\"code\":\"invalid_url\"");
        RawHttp.Answer nul = RawHttp.get("localhost", RestAssured.port, "/admin/models/a%00b");
        assertThat(nul.status()).isEqualTo(400);
        assertThat(nul.body()).contains("\"code\":\"invalid_url\"", "NUL");
    }

    @Test
    void adminApiNeedsTheToken() {
        given().get("/admin/models")
                .then()
                .statusCode(401)
                .header("WWW-Authenticate", "Bearer")
                .body("error.type", equalTo("authentication_error"))
                .body("error.param", nullValue());
        given().header("Authorization", "Basic dXNlcjpwYXNz")
                .get("/admin/models")
                .then()
                .statusCode(401);
        given().header("Authorization", "Bearer ").get("/admin/models").then().statusCode(401);
        given().header("Authorization", "Bearer wrong-token")
                .get("/admin/models")
                .then()
                .statusCode(403)
                .body("error.type", equalTo("permission_error"));
        given().header("Authorization", "Bearer wrong-token")
                .contentType(ContentType.JSON)
                .body(model("sneaky", new String[0]))
                .post("/admin/models")
                .then()
                .statusCode(403);
        admin().get("/admin/models/sneaky").then().statusCode(404);
        given().header("Authorization", "Bearer wrong-token")
                .get("/admin/instances")
                .then()
                .statusCode(403);
    }
}
