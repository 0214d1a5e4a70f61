package io.flatfare.gateway.account;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import io.flatfare.gateway.account.AccountService.Lookup;
import io.flatfare.gateway.service.WouldBlock;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.event.TransactionPhase;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * {@link ApiKeys} over the database, with a short cache keyed by the key's hash (the secret itself is never kept).
 * A malformed key is refused without a lookup. Positive answers live for {@code cache-ttl} (never past the key's
 * expiry), negative ones for {@code negative-cache-ttl}; changes made on this replica drop the whole cache once
 * they commit, so only other replicas wait for the TTL.
 */
@ApplicationScoped
public class CachingApiKeys implements ApiKeys {

    private final AccountService accounts;
    private final Cache<String, Lookup> cache;

    CachingApiKeys(AccountService accounts, AccountsConfig config) {
        this.accounts = accounts;
        Duration ttl = nonNegative(config.auth().cacheTtl(), "cache-ttl");
        Duration negativeTtl = min(nonNegative(config.auth().negativeCacheTtl(), "negative-cache-ttl"), ttl);
        this.cache = Caffeine.newBuilder()
                .maximumSize(config.auth().cacheMaxEntries())
                .expireAfter(new LookupExpiry(ttl, negativeTtl))
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
        return cache.get(hash, accounts::lookup).caller();
    }

    /** After a committed change on this replica, no cached answer may outlive it. */
    void onChange(@Observes(during = TransactionPhase.AFTER_SUCCESS) AccountsChanged change) {
        cache.invalidateAll();
    }

    private record LookupExpiry(Duration ttl, Duration negativeTtl) implements Expiry<String, Lookup> {

        @Override
        public long expireAfterCreate(String hash, Lookup lookup, long currentTime) {
            if (lookup.caller().isEmpty()) {
                return negativeTtl.toNanos();
            }
            return lookup.expiresAt()
                    .map(expiry -> min(ttl, Duration.between(Instant.now(), expiry)))
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
