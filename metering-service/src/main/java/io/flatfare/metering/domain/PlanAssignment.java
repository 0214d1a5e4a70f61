package io.flatfare.metering.domain;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.IdClass;
import jakarta.persistence.Table;
import java.io.Serializable;
import java.time.Instant;

/** From {@link #effectiveFrom} on, the account is on {@link #planId} (until its next assignment). */
@Entity
@Table(name = "account_plans")
@IdClass(PlanAssignment.Key.class)
public class PlanAssignment {

    public record Key(String accountId, Instant effectiveFrom) implements Serializable {
        public Key() {
            this(null, null);
        }
    }

    @Id
    @Column(name = "account_id")
    public String accountId;

    @Id
    @Column(name = "effective_from")
    public Instant effectiveFrom;

    @Column(name = "plan_id", nullable = false)
    public String planId;

    @Column(name = "created_at", nullable = false)
    public Instant createdAt;
}
