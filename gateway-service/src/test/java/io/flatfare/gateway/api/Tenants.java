package io.flatfare.gateway.api;

import static io.restassured.RestAssured.given;

import io.flatfare.gateway.account.AccountService;
import io.flatfare.gateway.account.Plan;
import io.restassured.http.ContentType;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.util.Set;
import java.util.UUID;

/** Creates throwaway plans, accounts and keys through the real account service. */
@ApplicationScoped
public class Tenants {

    private final AccountService accounts;

    Tenants(AccountService accounts) {
        this.accounts = accounts;
    }

    /** A key for a fresh account on a fresh plan with these limits (prompts up to 100,000 characters). */
    public Tenant create(Set<String> models, Integer rpm, Integer concurrent, Long monthly, Integer maxOutput) {
        return create(models, rpm, concurrent, monthly, maxOutput, 100_000);
    }

    /** A key for a fresh account on a fresh plan with these limits; {@code maxPrompt} null for none. */
    public Tenant create(
            Set<String> models, Integer rpm, Integer concurrent, Long monthly, Integer maxOutput, Integer maxPrompt) {
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        String plan = "plan-" + suffix;
        accounts.createPlan(new Plan(plan, models, Set.of(), rpm, concurrent, monthly, maxPrompt, maxOutput));
        String account = "acct-" + suffix;
        accounts.createAccount(account, "Test " + suffix, plan);
        var key = accounts.createKey(account, "test", null);
        return new Tenant(account, key.key().id, key.secret());
    }

    public Tenant generous() {
        return create(Set.of(Plan.ALL_MODELS), null, null, null, null);
    }

    /** A key whose monthly quota of one request is used up already (by a real one-token chat request). */
    public Tenant exhausted() {
        Tenant tenant = create(Set.of(Plan.ALL_MODELS), null, null, 1L, null);
        given().header("Authorization", tenant.bearer())
                .contentType(ContentType.JSON)
                .body(OpenAiApiTest.chat("max_tokens", 1))
                .post("/v1/chat/completions")
                .then()
                .statusCode(200);
        return tenant;
    }

    /** A key that expires in a moment. */
    public String expiringKey(String account, java.time.Duration in) {
        return accounts.createKey(account, "expiring", Instant.now().plus(in)).secret();
    }

    public void revoke(Tenant tenant) {
        accounts.revokeKey(tenant.account(), tenant.keyId());
    }

    public record Tenant(String account, String keyId, String key) {
        public String bearer() {
            return "Bearer " + key;
        }
    }
}
