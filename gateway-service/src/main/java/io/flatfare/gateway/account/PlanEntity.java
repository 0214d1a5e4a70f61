package io.flatfare.gateway.account;

import jakarta.persistence.CollectionTable;
import jakarta.persistence.Column;
import jakarta.persistence.ElementCollection;
import jakarta.persistence.Entity;
import jakarta.persistence.FetchType;
import jakarta.persistence.Id;
import jakarta.persistence.JoinColumn;
import jakarta.persistence.Table;
import java.time.Instant;
import java.util.HashSet;
import java.util.Set;

/** A plan as stored; {@link #toPlan()} gives the immutable view the request path uses. */
@Entity
@Table(name = "plans")
public class PlanEntity {

    @Id
    public String id;

    @ElementCollection(fetch = FetchType.EAGER)
    @CollectionTable(name = "plan_allowed_models", joinColumns = @JoinColumn(name = "plan_id"))
    @Column(name = "model_id", nullable = false)
    public Set<String> allowedModels = new HashSet<>();

    @ElementCollection(fetch = FetchType.EAGER)
    @CollectionTable(name = "plan_allowed_tiers", joinColumns = @JoinColumn(name = "plan_id"))
    @Column(name = "price_tier", nullable = false)
    public Set<String> allowedTiers = new HashSet<>();

    @Column(name = "requests_per_minute")
    public Integer requestsPerMinute;

    @Column(name = "concurrent_requests")
    public Integer concurrentRequests;

    @Column(name = "requests_per_month")
    public Long requestsPerMonth;

    @Column(name = "max_prompt_chars")
    public Integer maxPromptChars;

    @Column(name = "max_output_tokens")
    public Integer maxOutputTokens;

    @Column(name = "created_at", nullable = false)
    public Instant createdAt;

    @Column(name = "updated_at", nullable = false)
    public Instant updatedAt;

    public Plan toPlan() {
        return new Plan(
                id,
                allowedModels,
                allowedTiers,
                requestsPerMinute,
                concurrentRequests,
                requestsPerMonth,
                maxPromptChars,
                maxOutputTokens);
    }
}
