package io.flatfare.gateway.account;

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
import jakarta.persistence.PersistenceException;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jboss.logging.Logger;

/**
 * {@link ApiKeys} over the database, with a short cache keyed by the key's hash (the secret itself is never kept).
 * A malformed key is refused without a lookup. Positive answers live for {@code cache-ttl} (never past the key's
 * expiry), negative ones for {@code negative-cache-ttl}; changes made on this replica drop the whole cache once
 * they commit, so only other replicas wait for the TTL.
 *
 * <p>While the database cannot be reached, the last answer read for a key stands for up to {@code stale-if-error}
 * (never past the key's own expiry) and is asked for again after each TTL; a key without one is an
 * {@link AccountsUnavailableException} (503). Other failures propagate as they are (a bug is a 500).
 */
@ApplicationScoped
public class CachingApiKeys implements ApiKeys {

    private static final Logger LOG = Logger.getLogger(CachingApiKeys.class);

    private final AccountService accounts;
    private final Cache<String, Lookup> cache;
    /** The last answer read from the database per key hash, kept for stale-if-error; null when that is zero. */
    private final Cache<String, Lookup> lastRead;

    private final Clock clock;
    /** Whether the last lookup failed to reach the database: an outage is logged when it starts and ends. */
    private final AtomicBoolean unreachable = new AtomicBoolean();

    @Inject
    CachingApiKeys(AccountService accounts, AccountsConfig config) {
        this(accounts, config, Clock.systemUTC());
    }

    CachingApiKeys(AccountService accounts, AccountsConfig config, Clock clock) {
        this.accounts = accounts;
        this.clock = clock;
        Duration ttl = nonNegative(config.auth().cacheTtl(), "cache-ttl");
        Duration negativeTtl = min(nonNegative(config.auth().negativeCacheTtl(), "negative-cache-ttl"), ttl);
        Duration staleIfError = nonNegative(config.auth().staleIfError(), "stale-if-error");
        this.cache = Caffeine.newBuilder()
                .maximumSize(config.auth().cacheMaxEntries())
                .expireAfter(new LookupExpiry(ttl, negativeTtl, clock))
                .build();
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
        Lookup cached = cache.getIfPresent(hash);
        if (cached != null) {
            return cached.caller();
        }
        WouldBlock.unlessBlockingAllowed();
        try {
            return cache.get(hash, this::read).caller();
        } catch (RuntimeException e) {
            if (!isDatabaseFailure(e)) {
                throw e;
            }
            return stale(hash, DatabaseFailures.sqlState(e));
        }
    }

    /** After a committed change on this replica, no cached answer may outlive it, not even as a stale one. */
    void onChange(@Observes(during = TransactionPhase.AFTER_SUCCESS) AccountsChanged change) {
        cache.invalidateAll();
        if (lastRead != null) {
            lastRead.invalidateAll();
        }
    }

    private Lookup read(String hash) {
        Lookup lookup = accounts.lookup(hash);
        if (lastRead != null) {
            lastRead.put(hash, lookup);
        }
        if (unreachable.compareAndSet(true, false)) {
            LOG.info("The accounts database answers key lookups again");
        }
        return lookup;
    }

    /** The last answer read for the key, standing in while the database cannot be reached. */
    private Optional<Caller> stale(String hash, String sqlState) {
        if (unreachable.compareAndSet(false, true)) {
            LOG.warnf(
                    "The accounts database cannot be reached (SQL state %s): keys are checked against their last"
                            + " answer (flatfare.gateway.auth.stale-if-error), other keys get 503",
                    sqlState);
        }
        Lookup last = lastRead == null ? null : lastRead.getIfPresent(hash);
        if (last == null) {
            throw new AccountsUnavailableException("Key lookup failed (SQL state " + sqlState + ")");
        }
        if (last.expiresAt().filter(expiry -> !expiry.isAfter(clock.instant())).isPresent()) {
            return Optional.empty(); // expired since it was read: known without the database
        }
        // Until the TTL passes, requests with this key are answered from the cache without trying the database.
        cache.put(hash, last);
        return last.caller();
    }

    /**
     * A failure of the database or of the way to it, as Hibernate, the pool or the transaction manager report it.
     * The lookup is one fixed, validated query, so any of these is the database's state, not a wrong statement.
     */
    private static boolean isDatabaseFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof PersistenceException
                    || t instanceof SQLException
                    || t instanceof jakarta.transaction.RollbackException
                    || t instanceof jakarta.transaction.SystemException) {
                return true;
            }
        }
        return false;
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
