package io.flatfare.metering.domain;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.IdClass;
import jakarta.persistence.Table;
import java.io.Serializable;
import java.time.Instant;

/** One version of a plan. Never updated: a change is a new version with a later effective-from. */
@Entity
@Table(name = "plan_versions")
@IdClass(PlanVersion.Key.class)
public class PlanVersion {

    public record Key(String planId, int version) implements Serializable {
        public Key() {
            this(null, 0);
        }
    }

    @Id
    @Column(name = "plan_id")
    public String planId;

    @Id
    public int version;

    @Column(name = "effective_from", nullable = false)
    public Instant effectiveFrom;

    @Column(name = "monthly_fee_micros", nullable = false)
    public long monthlyFeeMicros;

    @Column(name = "included_requests", nullable = false)
    public long includedRequests;

    /** Price of a request beyond the included ones; null means the request's tier price. */
    @Column(name = "overage_price_micros")
    public Long overagePriceMicros;

    @Column(nullable = false)
    public String currency;

    @Column(name = "created_at", nullable = false)
    public Instant createdAt;
}
