package io.flatfare.registry.domain;

import jakarta.persistence.CollectionTable;
import jakarta.persistence.Column;
import jakarta.persistence.ElementCollection;
import jakarta.persistence.Entity;
import jakarta.persistence.EnumType;
import jakarta.persistence.Enumerated;
import jakarta.persistence.FetchType;
import jakarta.persistence.Id;
import jakarta.persistence.JoinColumn;
import jakarta.persistence.Table;
import jakarta.persistence.Version;
import java.time.Instant;
import java.util.HashSet;
import java.util.Set;

@Entity
@Table(name = "models")
public class ModelEntity {

    /** The most tokens a context or an output cap may be, wherever one is given (catalog, instances). */
    public static final int MAX_TOKENS = 10_000_000;

    @Id
    public String id;

    @Column(name = "display_name", nullable = false)
    public String displayName;

    @ElementCollection(fetch = FetchType.EAGER)
    @CollectionTable(name = "model_aliases", joinColumns = @JoinColumn(name = "model_id"))
    @Column(name = "alias", nullable = false)
    public Set<String> aliases = new HashSet<>();

    @Column(name = "owned_by", nullable = false)
    public String ownedBy;

    @ElementCollection(fetch = FetchType.EAGER)
    @CollectionTable(name = "model_capabilities", joinColumns = @JoinColumn(name = "model_id"))
    @Column(name = "capability", nullable = false)
    @Enumerated(EnumType.STRING)
    public Set<Capability> capabilities = new HashSet<>();

    @Column(name = "context_length", nullable = false)
    public int contextLength;

    @Column(name = "max_output_tokens", nullable = false)
    public int maxOutputTokens;

    @Column(name = "price_tier", nullable = false)
    public String priceTier;

    @Enumerated(EnumType.STRING)
    @Column(nullable = false)
    public ModelStatus status;

    @Column(name = "created_at", nullable = false)
    public Instant createdAt;

    @Column(name = "updated_at", nullable = false)
    public Instant updatedAt;

    @Version
    public long version;
}
