package io.flatfare.gateway.account;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.flatfare.gateway.account.AccountService.AccountChange;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
class ApiKeysTest {

    private static final AtomicInteger SEQUENCE = new AtomicInteger();

    @Inject
    ApiKeys apiKeys;

    @Inject
    AccountService accounts;

    @Inject
    AccountsConfig config;

    /** The application's own pool, to change rows behind the service's back as another replica would. */
    @Inject
    DataSource dataSource;

    private String newAccount(String planId) {
        return accounts.createAccount("keys-" + SEQUENCE.incrementAndGet() + "-" + System.nanoTime(), "Acme", planId)
                .id;
    }

    private IssuedKey newKey(String accountId, Instant expiresAt) {
        return accounts.createKey(accountId, "test", expiresAt);
    }

    @Test
    void aValidKeyAuthenticatesAsItsAccountWithItsPlan() {
        String account = newAccount("developer");
        IssuedKey issued = newKey(account, null);

        Optional<Caller> caller = apiKeys.authenticate(issued.secret());

        assertThat(caller).isPresent();
        assertThat(caller.get().accountId()).isEqualTo(account);
        assertThat(caller.get().apiKeyId()).isEqualTo(issued.key().id);
        Plan plan = caller.get().plan();
        assertThat(plan.id()).isEqualTo("developer");
        assertThat(plan.allowedModels()).containsExactly(Plan.ALL_MODELS);
        assertThat(plan.requestsPerMinute()).isEqualTo(60);
        assertThat(plan.concurrentRequests()).isEqualTo(4);
        assertThat(plan.requestsPerMonth()).isEqualTo(10_000L);
        assertThat(plan.maxPromptChars()).isEqualTo(100_000);
        assertThat(plan.maxOutputTokens()).isEqualTo(4_096);
        assertThat(plan.allows("any-model", "any-tier")).isTrue();
    }

    @Test
    void unknownAndMalformedKeysAreRefused() {
        assertThat(apiKeys.authenticate(KeySecrets.generate())).isEmpty();
        assertThat(apiKeys.authenticate(null)).isEmpty();
        assertThat(apiKeys.authenticate("")).isEmpty();
        String valid = newKey(newAccount("developer"), null).secret();
        assertThat(apiKeys.authenticate(valid + "x")).isEmpty();
        assertThat(apiKeys.authenticate(valid.substring(0, valid.length() - 1))).isEmpty();
        assertThat(apiKeys.authenticate(" " + valid)).isEmpty();
        assertThat(apiKeys.authenticate("sk-other-" + valid.substring(6))).isEmpty();
        assertThat(apiKeys.authenticate(valid)).isPresent();
    }

    @Test
    void aMalformedKeyIsRefusedWithoutALookup() throws SQLException {
        // A row whose hash matches a string of the wrong shape: only a lookup could find it.
        String malformed = "sk-ff-too-short";
        IssuedKey issued = newKey(newAccount("developer"), null);
        execute("update api_keys set hash = ? where id = ?", KeySecrets.hash(malformed), issued.key().id);

        assertThat(apiKeys.authenticate(malformed)).isEmpty();
    }

    @Test
    void aRevokedKeyIsRefusedAtOnceOnThisReplica() {
        String account = newAccount("developer");
        IssuedKey issued = newKey(account, null);
        assertThat(apiKeys.authenticate(issued.secret())).isPresent();

        accounts.revokeKey(account, issued.key().id);

        assertThat(apiKeys.authenticate(issued.secret())).isEmpty();
    }

    @Test
    void aRevocationOnAnotherReplicaBitesWithinTheCacheTtl() throws SQLException {
        Duration ttl = config.auth().cacheTtl();
        IssuedKey issued = newKey(newAccount("developer"), null);
        long start = System.nanoTime();
        assertThat(apiKeys.authenticate(issued.secret())).isPresent();

        // As another replica would: straight in the database, so this replica's cache is not told.
        execute("update api_keys set revoked_at = now() where id = ?", issued.key().id);
        Optional<Caller> rightAfter = apiKeys.authenticate(issued.secret());
        if (Duration.ofNanos(System.nanoTime() - start).compareTo(ttl) < 0) {
            assertThat(rightAfter).as("answered from the cache within its TTL").isPresent();
        }

        await().atMost(ttl.plusSeconds(3))
                .pollInterval(Duration.ofMillis(100))
                .until(() -> apiKeys.authenticate(issued.secret()).isEmpty());
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(ttl.plusSeconds(3));
    }

    @Test
    void anExpiredKeyIsRefusedEvenWhenCached() {
        Duration ttl = config.auth().cacheTtl();
        // Expires well within the cache TTL: a refusal before the cached answer's TTL ran out shows that the
        // entry was capped at the key's expiry.
        Instant expiry = Instant.now().plus(ttl.dividedBy(2));
        IssuedKey issued = newKey(newAccount("developer"), expiry);
        long cachedAt = System.nanoTime();
        assertThat(apiKeys.authenticate(issued.secret())).isPresent();

        await().atMost(ttl.minus(Duration.ofNanos(System.nanoTime() - cachedAt)))
                .pollInterval(Duration.ofMillis(50))
                .until(() -> apiKeys.authenticate(issued.secret()).isEmpty());
        assertThat(Instant.now()).isAfterOrEqualTo(expiry);
    }

    @Test
    void aDisabledAccountsKeysAreRefusedUntilItIsEnabled() {
        String account = newAccount("developer");
        IssuedKey issued = newKey(account, null);
        assertThat(apiKeys.authenticate(issued.secret())).isPresent();

        accounts.updateAccount(account, new AccountChange(null, null, true));
        assertThat(apiKeys.authenticate(issued.secret())).isEmpty();

        accounts.updateAccount(account, new AccountChange(null, null, false));
        assertThat(apiKeys.authenticate(issued.secret())).isPresent();
    }

    @Test
    void aPlanChangeReachesTheCaller() {
        String planId = "keys-plan-" + SEQUENCE.incrementAndGet() + "-" + System.nanoTime() % 100_000;
        accounts.createPlan(new Plan(planId, Set.of("mistral-7b"), Set.of(), 10, 1, 100L, 1_000, 256));
        String account = newAccount(planId);
        IssuedKey issued = newKey(account, null);
        Plan before = apiKeys.authenticate(issued.secret()).orElseThrow().plan();
        assertThat(before.allows("mistral-7b", "small")).isTrue();
        assertThat(before.allows("llama-3.3-70b", "large")).isFalse();

        accounts.updatePlan(new Plan(planId, Set.of(), Set.of("large"), null, null, null, null, 512));
        Plan after = apiKeys.authenticate(issued.secret()).orElseThrow().plan();
        assertThat(after.allows("llama-3.3-70b", "large")).isTrue();
        assertThat(after.allows("mistral-7b", "small")).isFalse();
        assertThat(after.requestsPerMinute()).isNull();
        assertThat(after.maxOutputTokens()).isEqualTo(512);

        accounts.updateAccount(account, new AccountChange(null, "standard", null));
        assertThat(apiKeys.authenticate(issued.secret()).orElseThrow().plan().id())
                .isEqualTo("standard");
    }

    private void execute(String sql, String... parameters) throws SQLException {
        try (var connection = dataSource.getConnection();
                var statement = connection.prepareStatement(sql)) {
            for (int i = 0; i < parameters.length; i++) {
                statement.setString(i + 1, parameters[i]);
            }
            assertThat(statement.executeUpdate()).isEqualTo(1);
        }
    }
}
