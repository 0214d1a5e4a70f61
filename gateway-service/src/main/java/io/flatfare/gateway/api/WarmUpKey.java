package io.flatfare.gateway.api;

import io.flatfare.gateway.account.Caller;
import io.flatfare.gateway.account.KeySecrets;
import jakarta.enterprise.context.ApplicationScoped;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;

/**
 * The key of the warm-up's own requests through the HTTP API ({@link WarmUp}): made at random when the warm-up opens
 * it, known only to this process (it is sent only to this process, over loopback), and refused again once the warm-up
 * closes it, before the gateway reports ready. Its caller is a made-up account on a plan without limits: its calls
 * touch no limit, and {@link io.flatfare.gateway.service.V1Call#warmUp} makes their end record nothing.
 */
@ApplicationScoped
public class WarmUpKey {

    private volatile byte[] secret;

    /** A new key, valid until {@link #close}. */
    String open() {
        String key = KeySecrets.generate();
        secret = key.getBytes(StandardCharsets.US_ASCII);
        return key;
    }

    void close() {
        secret = null;
    }

    /** The warm-up's caller when {@code presented} is the open key; compared in constant time. */
    Optional<Caller> caller(String presented) {
        byte[] open = secret;
        if (open == null || !MessageDigest.isEqual(open, presented.getBytes(StandardCharsets.US_ASCII))) {
            return Optional.empty();
        }
        return Optional.of(WarmUp.CALLER);
    }
}
