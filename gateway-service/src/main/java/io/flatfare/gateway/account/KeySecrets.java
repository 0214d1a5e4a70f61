package io.flatfare.gateway.account;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * The shape of secret API keys: {@code sk-ff-} followed by 43 base64url characters, the unpadded encoding of 32
 * bytes from {@link SecureRandom}. Only {@link #hash} and {@link #prefix} of a key are ever stored.
 */
public final class KeySecrets {

    public static final String SCHEME = "sk-ff-";

    /** Characters of a key shown after creation: the scheme and six random characters (36 of its 256 bits). */
    public static final int PREFIX_LENGTH = 12;

    private static final int SECRET_BYTES = 32;

    /** The last character carries only 4 of the 32 bytes' bits, so it is one of the 16 that leave the rest zero. */
    private static final Pattern FORMAT = Pattern.compile("sk-ff-[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]");

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Base64.Encoder BASE64URL = Base64.getUrlEncoder().withoutPadding();

    private KeySecrets() {}

    /** A new secret key. */
    public static String generate() {
        byte[] bytes = new byte[SECRET_BYTES];
        RANDOM.nextBytes(bytes);
        return SCHEME + BASE64URL.encodeToString(bytes);
    }

    /** Whether {@code key} has the shape of a key this service issues; checked before any lookup. */
    public static boolean isWellFormed(String key) {
        return key != null && FORMAT.matcher(key).matches();
    }

    /** Lower-case hex SHA-256 of the key's UTF-8 bytes. */
    public static String hash(String key) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("Every Java platform provides SHA-256", e);
        }
    }

    /** The visible start of the key, kept so an operator can tell keys apart. */
    public static String prefix(String key) {
        return key.substring(0, PREFIX_LENGTH);
    }

    /** A new random id with a type prefix, such as {@code key_Xb3…}: 96 random bits, base64url. */
    static String newId(String type) {
        byte[] bytes = new byte[12];
        RANDOM.nextBytes(bytes);
        return type + "_" + BASE64URL.encodeToString(bytes);
    }
}
