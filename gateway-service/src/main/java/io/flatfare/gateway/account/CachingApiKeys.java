package io.flatfare.gateway.account;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import io.flatfare.gateway.account.AccountService.Lookup;
import io.flatfare.gateway.service.WouldBlock;
import io.flatfare.support.api.DatabaseFailures;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.event.TransactionPhase;
import jakarta.inject.Inject;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jboss.logging.Logger;

/**
 * {@link ApiKeys} over the database, with a short cache keyed by the key's hash (the secret itself is never kept).
 * A malformed key is refused without a lookup. Positive answers live for {@code cache-ttl} (never past the key's
 * expiry), negative ones for {@code negative-cache-ttl}; changes made on this replica drop the whole cache once
 * they commit, so only other replicas wait for the TTL.
 *
 * <p>A caller waits at most {@code lookup-timeout} for the database. While it cannot be reached or does not answer,
 * the last answer read for a key stands for up to {@code stale-if-error} (never past the key's own expiry) and is
 * asked for again after each TTL, without waiting once a lookup has failed; a key without one is an
 * {@link AccountsUnavailableException} (503). Other failures propagate as they are (a bug is a 500).
 */
@ApplicationScoped
public class CachingApiKeys implements ApiKeys {

    private static final Logger LOG = Logger.getLogger(CachingApiKeys.class);

    private final AccountService accounts;
    private final AsyncCache<String, Lookup> cache;
    /** The last answer read from the database per key hash, kept for stale-if-error; null when that is zero. */
    private final Cache<String, Lookup> lastRead;
    /** Where the database is read: a lookup that hangs holds one of these threads, never a caller past its wait. */
    private final Executor lookups;

    private final Duration lookupTimeout;
    private final Clock clock;
    /**
     * Whether the last lookup that ended failed or timed out: while it is set, a key with a last answer gets it at
     * once (its lookup runs on in the background), and an outage is logged when it starts and ends.
     */
    private final AtomicBoolean unreachable = new AtomicBoolean();

    @Inject
    CachingApiKeys(AccountService accounts, AccountsConfig config) {
        this(
                accounts,
                config,
                Clock.systemUTC(),
                Executors.newThreadPerTaskExecutor(
                        Thread.ofVirtual().name("key-lookup-", 0).factory()));
    }

    CachingApiKeys(AccountService accounts, AccountsConfig config, Clock clock, Executor lookups) {
        this.accounts = accounts;
        this.clock = clock;
        this.lookups = lookups;
        Duration ttl = nonNegative(config.auth().cacheTtl(), "cache-ttl");
        Duration negativeTtl = min(nonNegative(config.auth().negativeCacheTtl(), "negative-cache-ttl"), ttl);
        Duration staleIfError = nonNegative(config.auth().staleIfError(), "stale-if-error");
        this.lookupTimeout = nonNegative(config.auth().lookupTimeout(), "lookup-timeout");
        this.cache = Caffeine.newBuilder()
                .maximumSize(config.auth().cacheMaxEntries())
                .expireAfter(new LookupExpiry(ttl, negativeTtl, clock))
                .buildAsync();
        this.lastRead = staleIfError.isZero()
                ? null
                : Caffeine.newBuilder()
                        .maximumSize(config.auth().cacheMaxEntries())
                        .expireAfterWrite(staleIfError)
                        .build();
    }

    @Override
    public Optional<Caller> authenticate(String presentedKey) {
        if (!KeySecrets.isWellFormed(presentedKey)) {
            return Optional.empty();
        }
        String hash = KeySecrets.hash(presentedKey);
        CompletableFuture<Lookup> cached = cache.getIfPresent(hash);
        if (cached != null && cached.isDone() && !cached.isCompletedExceptionally()) {
            return cached.join().caller();
        }
        WouldBlock.unlessBlockingAllowed();
        // One lookup per key at a time: callers of a key whose lookup is running wait for that one.
        CompletableFuture<Lookup> lookup =
                cache.get(hash, (h, executor) -> CompletableFuture.supplyAsync(() -> read(h), lookups));
        if (unreachable.get() && !lookup.isDone()) {
            Lookup last = lastAnswer(hash);
            if (last != null) {
                return standIn(hash, last);
            }
        }
        try {
            return lookup.get(lookupTimeout.toNanos(), TimeUnit.NANOSECONDS).caller();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (DatabaseFailures.sqlError(cause).isEmpty()) {
                throw cause instanceof RuntimeException runtime ? runtime : new IllegalStateException(cause);
            }
            return stale(hash, "SQL state " + DatabaseFailures.sqlState(cause));
        } catch (TimeoutException e) {
            return stale(hash, "no answer within " + lookupTimeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AccountsUnavailableException("Key lookup interrupted");
        }
    }

    /** On the calling thread and without the lookup timeout, so a slow first lookup is not taken for an outage. */
    @Override
    public void warmUp() {
        accounts.lookup(KeySecrets.hash(KeySecrets.generate()));
    }

    /** After a committed change on this replica, no cached answer may outlive it, not even as a stale one. */
    void onChange(@Observes(during = TransactionPhase.AFTER_SUCCESS) AccountsChanged change) {
        cache.synchronous().invalidateAll();
        if (lastRead != null) {
            lastRead.invalidateAll();
        }
    }

    private Lookup read(String hash) {
        Lookup lookup;
        try {
            lookup = accounts.lookup(hash);
        } catch (RuntimeException e) {
            if (DatabaseFailures.sqlError(e).isPresent() && unreachable.compareAndSet(false, true)) {
                logOutage("SQL state " + DatabaseFailures.sqlState(e));
            }
            throw e;
        }
        if (lastRead != null) {
            lastRead.put(hash, lookup);
        }
        if (unreachable.compareAndSet(true, false)) {
            LOG.info("The accounts database answers key lookups again");
        }
        return lookup;
    }

    /** The key's last answer, standing in while the database does not answer; without one, a 503. */
    private Optional<Caller> stale(String hash, String reason) {
        if (unreachable.compareAndSet(false, true)) {
            logOutage(reason);
        }
        Lookup last = lastAnswer(hash);
        if (last == null) {
            throw new AccountsUnavailableException("Key lookup failed (" + reason + ")");
        }
        return standIn(hash, last);
    }

    /** Whether an answer for this key is cached (for tests: a lookup's completion updates the entry after it). */
    boolean holdsAnswer(String presentedKey) {
        return cache.getIfPresent(KeySecrets.hash(presentedKey)) != null;
    }

    private Lookup lastAnswer(String hash) {
        return lastRead == null ? null : lastRead.getIfPresent(hash);
    }

    private Optional<Caller> standIn(String hash, Lookup last) {
        if (last.expiresAt().filter(expiry -> !expiry.isAfter(clock.instant())).isPresent()) {
            return Optional.empty(); // expired since it was read: known without the database
        }
        // Until the TTL passes, requests with this key are answered from the cache without trying the database.
        cache.put(hash, CompletableFuture.completedFuture(last));
        return last.caller();
    }

    private static void logOutage(String reason) {
        LOG.warnf(
                "The accounts database does not answer key lookups (%s): keys are checked against their last answer"
                        + " (flatfare.gateway.auth.stale-if-error), other keys get 503",
                reason);
    }

    private record LookupExpiry(Duration ttl, Duration negativeTtl, Clock clock) implements Expiry<String, Lookup> {

        @Override
        public long expireAfterCreate(String hash, Lookup lookup, long currentTime) {
            if (lookup.caller().isEmpty()) {
                return negativeTtl.toNanos();
            }
            return lookup.expiresAt()
                    .map(expiry -> min(ttl, Duration.between(clock.instant(), expiry)))
                    .orElse(ttl)
                    .toNanos();
        }

        @Override
        public long expireAfterUpdate(String hash, Lookup lookup, long currentTime, long currentDuration) {
            return expireAfterCreate(hash, lookup, currentTime);
        }

        @Override
        public long expireAfterRead(String hash, Lookup lookup, long currentTime, long currentDuration) {
            return currentDuration;
        }
    }

    private static Duration min(Duration a, Duration b) {
        Duration smaller = a.compareTo(b) <= 0 ? a : b;
        return smaller.isNegative() ? Duration.ZERO : smaller;
    }

    private static Duration nonNegative(Duration duration, String key) {
        if (duration.isNegative()) {
            throw new IllegalArgumentException("flatfare.gateway.auth." + key + " must not be negative");
        }
        return duration;
    }
}
