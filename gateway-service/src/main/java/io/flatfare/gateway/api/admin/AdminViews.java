package io.flatfare.gateway.api.admin;

import io.flatfare.gateway.account.AccountEntity;
import io.flatfare.gateway.account.ApiKeyEntity;
import io.flatfare.gateway.account.IssuedKey;
import io.flatfare.gateway.account.Plan;
import io.flatfare.gateway.account.PlanEntity;
import io.flatfare.support.api.Storable;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Positive;
import jakarta.validation.constraints.Size;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Set;

/** Request and response bodies of the accounts admin API (snake_case on the wire). */
final class AdminViews {

    /** Plan ids: lower-case, so they read the same in URLs, configs and invoices. */
    static final String PLAN_ID = "^[a-z0-9][a-z0-9._-]{0,63}$";

    /** Account ids travel in every usage event and the metering ledger; no whitespace or slashes. */
    static final String ACCOUNT_ID = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$";

    /** A canonical model id as the registry spells it, or {@code *} for every model. */
    static final String MODEL_OR_ALL = "^(\\*|[a-z0-9][a-z0-9._:-]{0,63})$";

    static final String PRICE_TIER = "^[a-z][a-z0-9-]{0,31}$";

    private static final String NOT_BLANK = "^(?s).*\\S.*$";

    private AdminViews() {}

    /**
     * A plan as an administrator writes it. On create {@code id} is required; on replace it comes from the path and
     * a body id, if given, must match. A limit left out (null) means no limit.
     */
    record PlanRequest(
            @Pattern(regexp = PLAN_ID, message = "must be lower-case letters, digits and . _ - (at most 64)")
            String id,

            @Size(max = 1000)
            List<@NotNull @Pattern(regexp = MODEL_OR_ALL, message = "must be a model id or *") String> allowedModels,

            @Size(max = 100)
            List<@NotNull @Pattern(regexp = PRICE_TIER, message = "must be a price tier such as small") String>
                    allowedTiers,

            @Positive Integer requestsPerMinute,
            @Positive Integer concurrentRequests,
            @Positive Long requestsPerMonth,
            @Positive Integer maxPromptChars,
            @Positive Integer maxOutputTokens) {

        Plan toPlan(String planId) {
            return new Plan(
                    planId,
                    allowedModels == null ? Set.of() : Set.copyOf(allowedModels),
                    allowedTiers == null ? Set.of() : Set.copyOf(allowedTiers),
                    requestsPerMinute,
                    concurrentRequests,
                    requestsPerMonth,
                    maxPromptChars,
                    maxOutputTokens);
        }
    }

    record PlanView(
            String id,
            String object,
            List<String> allowedModels,
            List<String> allowedTiers,
            Integer requestsPerMinute,
            Integer concurrentRequests,
            Long requestsPerMonth,
            Integer maxPromptChars,
            Integer maxOutputTokens,
            Instant createdAt,
            Instant updatedAt) {

        static PlanView of(PlanEntity p) {
            return new PlanView(
                    p.id,
                    "plan",
                    sorted(p.allowedModels),
                    sorted(p.allowedTiers),
                    p.requestsPerMinute,
                    p.concurrentRequests,
                    p.requestsPerMonth,
                    p.maxPromptChars,
                    p.maxOutputTokens,
                    p.createdAt,
                    p.updatedAt);
        }
    }

    /** A new account; without an id it gets a random {@code acct_…} one. */
    record AccountRequest(
            @Pattern(regexp = ACCOUNT_ID, message = "must be letters, digits and . _ : - (at most 128)")
            String id,

            @NotBlank @Size(max = 200) @Pattern(regexp = Storable.ONE_LINE, message = Storable.ONE_LINE_MESSAGE)
            String name,

            @NotNull @Pattern(regexp = PLAN_ID, message = "is not a valid plan id")
            String planId) {}

    /** A change to an account: fields left out stay as they are. */
    record AccountPatch(
            @Size(min = 1, max = 200)
            @Pattern(regexp = NOT_BLANK, message = "must not be blank")
            @Pattern(regexp = Storable.ONE_LINE, message = Storable.ONE_LINE_MESSAGE)
            String name,

            @Pattern(regexp = PLAN_ID, message = "is not a valid plan id")
            String planId,

            Boolean disabled) {}

    record AccountView(
            String id,
            String object,
            String name,
            String planId,
            boolean disabled,
            Instant createdAt,
            Instant updatedAt) {

        static AccountView of(AccountEntity a) {
            return new AccountView(a.id, "account", a.name, a.plan.id, a.disabled, a.createdAt, a.updatedAt);
        }
    }

    /** A new key: a name to tell it apart, and optionally when it stops working. */
    record KeyRequest(
            @NotBlank @Size(max = 200) @Pattern(regexp = Storable.ONE_LINE, message = Storable.ONE_LINE_MESSAGE)
            String name,

            Instant expiresAt) {}

    /** A key as listed: never the secret, never its hash. */
    record KeyView(
            String id,
            String object,
            String accountId,
            String name,
            String prefix,
            String status,
            Instant createdAt,
            Instant expiresAt,
            Instant revokedAt) {

        static KeyView of(ApiKeyEntity k, String accountId, Instant now) {
            return new KeyView(
                    k.id,
                    "api_key",
                    accountId,
                    k.name,
                    k.prefix,
                    statusOf(k, now),
                    k.createdAt,
                    k.expiresAt,
                    k.revokedAt);
        }
    }

    /** The answer to a key's creation, the only one that ever carries the secret {@code key}. */
    record NewKeyView(
            String id,
            String object,
            String accountId,
            String name,
            String prefix,
            String status,
            Instant createdAt,
            Instant expiresAt,
            Instant revokedAt,
            String key) {

        static NewKeyView of(IssuedKey issued, String accountId, Instant now) {
            ApiKeyEntity k = issued.key();
            return new NewKeyView(
                    k.id,
                    "api_key",
                    accountId,
                    k.name,
                    k.prefix,
                    statusOf(k, now),
                    k.createdAt,
                    k.expiresAt,
                    k.revokedAt,
                    issued.secret());
        }

        /** Keeps the secret out of any log line that prints this record. */
        @Override
        public String toString() {
            return "NewKeyView[id=" + id + ", prefix=" + prefix + "]";
        }
    }

    private static String statusOf(ApiKeyEntity k, Instant now) {
        if (k.revokedAt != null) {
            return "revoked";
        }
        return k.isActiveAt(now) ? "active" : "expired";
    }

    private static List<String> sorted(Collection<String> values) {
        return values.stream().sorted().toList();
    }
}
