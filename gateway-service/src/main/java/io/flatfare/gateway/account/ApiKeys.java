package io.flatfare.gateway.account;

import java.util.Optional;

/** Looks up the caller behind a presented API key. */
public interface ApiKeys {

    /**
     * The caller for a presented secret key, or empty when the key is malformed, unknown, revoked or expired, or the
     * account is disabled. Blocking (a database read on a cache miss; on an event loop a miss throws
     * {@link io.flatfare.gateway.service.WouldBlock} instead); results are cached briefly, so a revocation takes
     * effect within the cache's TTL.
     */
    Optional<Caller> authenticate(String presentedKey);

    /**
     * One lookup of a made-up key all the way to the database and back, waited for however long the first one takes
     * (a cold connection pool and ORM): for the warm-up before the service turns ready.
     */
    default void warmUp() {
        authenticate(KeySecrets.generate());
    }
}
