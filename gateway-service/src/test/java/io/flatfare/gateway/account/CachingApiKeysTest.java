package io.flatfare.gateway.account;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.flatfare.gateway.account.AccountService.Lookup;
import jakarta.persistence.PersistenceException;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The key cache's answers while the database cannot be reached, with the database as a test double: what the
 * lookup returns or throws is set per test. (The same against a real PostgreSQL behind a cut connection:
 * {@code api.DatabaseOutageTest}.)
 */
class CachingApiKeysTest {

    private static final Instant NOW = Instant.parse("2026-11-30T12:00:00Z");
    private static final Clock CLOCK = Clock.fixed(NOW, ZoneOffset.UTC);
    private static final Plan PLAN = new Plan("p", Set.of(Plan.ALL_MODELS), Set.of(), null, null, null, 1000, null);
    private static final Caller CALLER = new Caller("acct", "key-id", PLAN);

    private final Database database = new Database();
    private final String key = KeySecrets.generate();

    @AfterEach
    void releaseHungLookups() {
        database.released.countDown();
    }

    /**
     * A cache that asks the database on every call (no TTL), so each call shows what an expired entry would do; the
     * lookup runs on the calling thread.
     */
    private CachingApiKeys keys(Duration staleIfError) {
        return new CachingApiKeys(
                database, config(Duration.ZERO, staleIfError, Duration.ofSeconds(3)), CLOCK, Runnable::run);
    }

    /** The same with lookups on threads of their own, as in production, so a caller can stop waiting for one. */
    private CachingApiKeys keysWithLookupTimeout(Duration lookupTimeout) {
        return new CachingApiKeys(
                database,
                config(Duration.ZERO, Duration.ofMinutes(5), lookupTimeout),
                CLOCK,
                Executors.newVirtualThreadPerTaskExecutor());
    }

    @Test
    void aKeyReadBeforeTheOutageKeepsItsAnswer() {
        CachingApiKeys keys = keys(Duration.ofMinutes(5));
        database.answer(hash -> new Lookup(Optional.of(CALLER), Optional.empty()));
        assertThat(keys.authenticate(key)).contains(CALLER);

        database.unreachable();

        assertThat(keys.authenticate(key)).contains(CALLER);
        assertThat(keys.authenticate(key)).contains(CALLER);
        assertThat(database.calls.get())
                .as("the database is still asked each time")
                .isEqualTo(3);
    }

    @Test
    void aKeyKnownToBeBadStaysBad() {
        CachingApiKeys keys = keys(Duration.ofMinutes(5));
        database.answer(hash -> Lookup.NONE);
        assertThat(keys.authenticate(key)).isEmpty();

        database.unreachable();

        assertThat(keys.authenticate(key)).isEmpty();
    }

    @Test
    void aKeyNeverReadIsUnavailableNotUnknown() {
        CachingApiKeys keys = keys(Duration.ofMinutes(5));
        database.unreachable();

        assertThatThrownBy(() -> keys.authenticate(key))
                .isInstanceOf(AccountsUnavailableException.class)
                .hasMessage("Key lookup failed (SQL state 08001)")
                .message()
                .doesNotContain(key);
    }

    @Test
    void withoutStaleIfErrorEveryLookupDuringTheOutageIsUnavailable() {
        CachingApiKeys keys = keys(Duration.ZERO);
        database.answer(hash -> new Lookup(Optional.of(CALLER), Optional.empty()));
        assertThat(keys.authenticate(key)).contains(CALLER);

        database.unreachable();

        assertThatThrownBy(() -> keys.authenticate(key)).isInstanceOf(AccountsUnavailableException.class);
    }

    @Test
    void aKeyThatExpiredSinceItWasReadIsRefused() {
        CachingApiKeys keys = keys(Duration.ofMinutes(5));
        database.answer(hash -> new Lookup(Optional.of(CALLER), Optional.of(NOW.minusSeconds(1))));
        keys.authenticate(key);

        database.unreachable();

        assertThat(keys.authenticate(key)).isEmpty();
    }

    @Test
    void aChangeOnThisReplicaDropsTheLastAnswersToo() {
        CachingApiKeys keys = keys(Duration.ofMinutes(5));
        database.answer(hash -> new Lookup(Optional.of(CALLER), Optional.empty()));
        keys.authenticate(key);
        keys.onChange(new AccountsChanged()); // e.g. this key revoked here, just before the outage

        database.unreachable();

        assertThatThrownBy(() -> keys.authenticate(key)).isInstanceOf(AccountsUnavailableException.class);
    }

    @Test
    void aFailureThatIsNotTheDatabasesIsNotHidden() {
        CachingApiKeys keys = keys(Duration.ofMinutes(5));
        database.answer(hash -> new Lookup(Optional.of(CALLER), Optional.empty()));
        keys.authenticate(key);

        database.answer(hash -> {
            throw new IllegalStateException("a bug");
        });

        assertThatThrownBy(() -> keys.authenticate(key)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void theDatabaseBackAnswersAgain() {
        CachingApiKeys keys = keys(Duration.ofMinutes(5));
        database.answer(hash -> new Lookup(Optional.of(CALLER), Optional.empty()));
        keys.authenticate(key);
        database.unreachable();
        keys.authenticate(key);

        database.answer(hash -> Lookup.NONE); // revoked meanwhile on another replica

        assertThat(keys.authenticate(key)).isEmpty();
    }

    @Test
    void aDatabaseThatHangsHoldsACallerNoLongerThanTheLookupTimeout() {
        CachingApiKeys keys = keysWithLookupTimeout(Duration.ofMillis(200));
        database.hang();

        assertTimeoutPreemptively(
                Duration.ofSeconds(30),
                () -> assertThatThrownBy(() -> keys.authenticate(key))
                        .isInstanceOf(AccountsUnavailableException.class)
                        .hasMessage("Key lookup failed (no answer within 200 ms)"));
    }

    @Test
    void onceTheDatabaseFailedAKeyWithALastAnswerGetsItWithoutWaiting() {
        // A wait this long would fail the test: only a stand-in answered at once passes.
        CachingApiKeys keys = keysWithLookupTimeout(Duration.ofMinutes(10));
        String other = KeySecrets.generate();
        database.answer(hash -> new Lookup(Optional.of(CALLER), Optional.empty()));
        keys.authenticate(key);
        keys.authenticate(other);
        // A caller may return before the cache has set its answer's expiry (the cache does that when the lookup's
        // future completes, after waking the caller); until then the answer counts as fresh, and no lookup runs.
        await().atMost(Duration.ofSeconds(30)).until(() -> !keys.holdsAnswer(key) && !keys.holdsAnswer(other));
        database.unreachable();
        assertThat(keys.authenticate(key)).contains(CALLER); // this lookup failed: the database is unreachable
        assertThat(database.calls.get()).isEqualTo(3);

        database.hang();

        assertTimeoutPreemptively(
                Duration.ofSeconds(30),
                () -> assertThat(keys.authenticate(other)).contains(CALLER));
        await().atMost(Duration.ofSeconds(30))
                .untilAsserted(() -> assertThat(database.calls.get())
                        .as("the database is asked, in the background")
                        .isEqualTo(4));
    }

    @Test
    void aDatabaseThatAnswersAgainEndsTheStandIns() {
        CachingApiKeys keys = keysWithLookupTimeout(Duration.ofMillis(200));
        database.answer(hash -> new Lookup(Optional.of(CALLER), Optional.empty()));
        keys.authenticate(key);
        database.hang();
        assertThat(keys.authenticate(key)).contains(CALLER); // after 200 ms, the last answer

        database.released.countDown(); // the hung lookup completes now, with a revocation made meanwhile
        database.answer(hash -> Lookup.NONE);

        await().atMost(Duration.ofSeconds(30))
                .until(() -> keys.authenticate(key).isEmpty());
    }

    /** The account service with its database lookup replaced. */
    private static final class Database extends AccountService {
        final AtomicInteger calls = new AtomicInteger();
        final CountDownLatch released = new CountDownLatch(1);
        private Function<String, Lookup> answer = hash -> Lookup.NONE;

        Database() {
            super(null, null, null, null);
        }

        void answer(Function<String, Lookup> answer) {
            this.answer = answer;
        }

        /** As Hibernate reports the PostgreSQL driver's refused connection. */
        void unreachable() {
            answer = hash -> {
                throw new PersistenceException(
                        "Unable to acquire JDBC Connection", new SQLException("Connection refused", "08001"));
            };
        }

        /** Like a database that froze: a lookup waits until the test ends (or releases it), then answers. */
        void hang() {
            Function<String, Lookup> after = answer;
            answer = hash -> {
                try {
                    released.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return after.apply(hash);
            };
        }

        @Override
        Lookup lookup(String hash) {
            calls.incrementAndGet();
            return answer.apply(hash);
        }
    }

    private static AccountsConfig config(Duration ttl, Duration staleIfError, Duration lookupTimeout) {
        return new AccountsConfig() {
            @Override
            public String adminToken() {
                return "unused";
            }

            @Override
            public Auth auth() {
                return new Auth() {
                    @Override
                    public Duration cacheTtl() {
                        return ttl;
                    }

                    @Override
                    public Duration negativeCacheTtl() {
                        return ttl;
                    }

                    @Override
                    public Duration staleIfError() {
                        return staleIfError;
                    }

                    @Override
                    public Duration lookupTimeout() {
                        return lookupTimeout;
                    }

                    @Override
                    public long cacheMaxEntries() {
                        return 100;
                    }
                };
            }
        };
    }
}
