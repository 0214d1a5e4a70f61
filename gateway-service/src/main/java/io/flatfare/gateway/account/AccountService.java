package io.flatfare.gateway.account;

import io.flatfare.support.api.Storable;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Event;
import jakarta.transaction.Transactional;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;

/**
 * Plans, accounts and API keys as the admin API manages them. Shapes (ids, limits) are checked by the API layer;
 * this checks what needs the database: existence, duplicates, the state of an account.
 */
@ApplicationScoped
public class AccountService {

    private final PlanRepository plans;
    private final AccountRepository accounts;
    private final ApiKeyRepository keys;
    private final Event<AccountsChanged> changed;

    /** Stored timestamps have microsecond precision; truncating here makes a returned view equal a re-read one. */
    private final Clock clock = Clock.tickMillis(ZoneOffset.UTC);

    AccountService(
            PlanRepository plans, AccountRepository accounts, ApiKeyRepository keys, Event<AccountsChanged> changed) {
        this.plans = plans;
        this.accounts = accounts;
        this.keys = keys;
        this.changed = changed;
    }

    /** A change to an account; null fields stay as they are. */
    public record AccountChange(String name, String planId, Boolean disabled) {}

    public List<PlanEntity> plans() {
        return plans.all();
    }

    public PlanEntity plan(String id) {
        return plans.findByIdOptional(id).orElseThrow(() -> planNotFound("id", id));
    }

    @Transactional
    public PlanEntity createPlan(Plan spec) {
        if (plans.findByIdOptional(spec.id()).isPresent()) {
            throw AccountException.conflict("id", "plan_exists", "The plan '" + spec.id() + "' already exists.");
        }
        PlanEntity plan = new PlanEntity();
        plan.id = spec.id();
        plan.createdAt = clock.instant();
        apply(plan, spec);
        plans.persist(plan);
        return plan;
    }

    /** Replaces every limit of the plan; accounts on it get the new limits within the lookup cache's TTL. */
    @Transactional
    public PlanEntity updatePlan(Plan spec) {
        PlanEntity plan = plan(spec.id());
        apply(plan, spec);
        changed.fire(new AccountsChanged());
        return plan;
    }

    private void apply(PlanEntity plan, Plan spec) {
        plan.allowedModels = new HashSet<>(spec.allowedModels());
        plan.allowedTiers = new HashSet<>(spec.allowedTiers());
        plan.requestsPerMinute = spec.requestsPerMinute();
        plan.concurrentRequests = spec.concurrentRequests();
        plan.requestsPerMonth = spec.requestsPerMonth();
        plan.maxPromptChars = spec.maxPromptChars();
        plan.maxOutputTokens = spec.maxOutputTokens();
        plan.updatedAt = clock.instant();
    }

    /** Accounts in id order after {@code after} (from the first without one), on the plan when given; at most max. */
    public List<AccountEntity> accounts(Optional<String> planId, Optional<String> after, int max) {
        return accounts.page(planId, after, max);
    }

    public AccountEntity account(String id) {
        return accounts.findByIdOptional(id)
                .orElseThrow(() -> AccountException.notFound(
                        "id", "account_not_found", "The account '" + id + "' does not exist."));
    }

    /** Creates an account; without an id it gets a random {@code acct_…} one. */
    @Transactional
    public AccountEntity createAccount(String id, String name, String planId) {
        if (id != null && accounts.findByIdOptional(id).isPresent()) {
            throw AccountException.conflict("id", "account_exists", "The account '" + id + "' already exists.");
        }
        AccountEntity account = new AccountEntity();
        account.id = id != null ? id : KeySecrets.newId("acct");
        account.name = name;
        account.plan = plans.findByIdOptional(planId).orElseThrow(() -> planNotFound("plan_id", planId));
        account.disabled = false;
        account.createdAt = clock.instant();
        account.updatedAt = account.createdAt;
        accounts.persist(account);
        return account;
    }

    @Transactional
    public AccountEntity updateAccount(String id, AccountChange change) {
        AccountEntity account = account(id);
        if (change.name() != null) {
            account.name = change.name();
        }
        if (change.planId() != null) {
            account.plan =
                    plans.findByIdOptional(change.planId()).orElseThrow(() -> planNotFound("plan_id", change.planId()));
        }
        if (change.disabled() != null) {
            account.disabled = change.disabled();
        }
        account.updatedAt = clock.instant();
        changed.fire(new AccountsChanged());
        return account;
    }

    public List<ApiKeyEntity> keys(String accountId) {
        account(accountId);
        return keys.ofAccount(accountId);
    }

    /** Issues a key. The returned secret is not stored anywhere: the caller must hand it over now or lose it. */
    @Transactional
    public IssuedKey createKey(String accountId, String name, Instant expiresAt) {
        AccountEntity account = account(accountId);
        if (account.disabled) {
            throw AccountException.conflict(
                    "id", "account_disabled", "The account '" + accountId + "' is disabled; enable it first.");
        }
        Instant now = clock.instant();
        if (expiresAt != null && !expiresAt.isAfter(now)) {
            throw AccountException.invalid("expires_at", "expires_at must be in the future.");
        }
        if (expiresAt != null && !Storable.instant(expiresAt)) {
            throw AccountException.invalid("expires_at", "expires_at must be before the year 10000.");
        }
        String secret = KeySecrets.generate();
        ApiKeyEntity key = new ApiKeyEntity();
        key.id = KeySecrets.newId("key");
        key.account = account;
        key.name = name;
        key.prefix = KeySecrets.prefix(secret);
        key.hash = KeySecrets.hash(secret);
        key.createdAt = now;
        key.expiresAt = expiresAt == null ? null : expiresAt.truncatedTo(ChronoUnit.MICROS);
        keys.persist(key);
        return new IssuedKey(key, secret);
    }

    public ApiKeyEntity key(String accountId, String keyId) {
        account(accountId);
        return keys.ofAccount(accountId, keyId)
                .orElseThrow(() -> AccountException.notFound(
                        "key_id", "key_not_found", "The account has no key '" + keyId + "'."));
    }

    /** Revokes a key; revoking it again changes nothing (the first revocation time stays). */
    @Transactional
    public ApiKeyEntity revokeKey(String accountId, String keyId) {
        ApiKeyEntity key = key(accountId, keyId);
        if (key.revokedAt == null) {
            key.revokedAt = clock.instant();
            changed.fire(new AccountsChanged());
        }
        return key;
    }

    /**
     * The caller behind a key hash, or empty when no key has it, or the key is revoked or expired, or its account
     * is disabled. Read by {@link CachingApiKeys} on a cache miss.
     */
    @Transactional
    Lookup lookup(String hash) {
        Instant now = clock.instant();
        return keys.findByHash(hash)
                .filter(key -> key.isActiveAt(now) && !key.account.disabled)
                .map(key -> new Lookup(
                        Optional.of(new Caller(key.account.id, key.id, key.account.plan.toPlan())),
                        Optional.ofNullable(key.expiresAt)))
                .orElse(Lookup.NONE);
    }

    /** A lookup's answer, and until when a positive one holds at most (the key's expiry). */
    record Lookup(Optional<Caller> caller, Optional<Instant> expiresAt) {
        static final Lookup NONE = new Lookup(Optional.empty(), Optional.empty());
    }

    private static AccountException planNotFound(String param, String id) {
        return AccountException.notFound(param, "plan_not_found", "The plan '" + id + "' does not exist.");
    }
}
