package io.flatfare.gateway.account;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.FetchType;
import jakarta.persistence.Id;
import jakarta.persistence.JoinColumn;
import jakarta.persistence.ManyToOne;
import jakarta.persistence.Table;
import java.time.Instant;

/** An API key as stored: never the secret, only its hash and visible prefix (see {@link KeySecrets}). */
@Entity
@Table(name = "api_keys")
public class ApiKeyEntity {

    @Id
    public String id;

    @ManyToOne(fetch = FetchType.LAZY, optional = false)
    @JoinColumn(name = "account_id", nullable = false)
    public AccountEntity account;

    @Column(nullable = false)
    public String name;

    @Column(nullable = false)
    public String prefix;

    /** Lower-case hex SHA-256 of the whole secret key. */
    @Column(nullable = false, unique = true)
    public String hash;

    @Column(name = "created_at", nullable = false)
    public Instant createdAt;

    /** Null: the key never expires. */
    @Column(name = "expires_at")
    public Instant expiresAt;

    /** Null while the key is in force. */
    @Column(name = "revoked_at")
    public Instant revokedAt;

    /** Whether the key authenticates at {@code now}, as far as the key itself goes (the account may be disabled). */
    public boolean isActiveAt(Instant now) {
        return revokedAt == null && (expiresAt == null || now.isBefore(expiresAt));
    }
}
