package io.flatfare.gateway.account;

/**
 * A key just created: the stored key and its secret, which exists only here, to be shown to the caller once.
 *
 * @param key the stored key (hash and prefix only)
 * @param secret the full secret key
 */
public record IssuedKey(ApiKeyEntity key, String secret) {

    /** Keeps the secret out of any log line or exception message that prints this record. */
    @Override
    public String toString() {
        return "IssuedKey[id=" + key.id + ", prefix=" + key.prefix + "]";
    }
}
