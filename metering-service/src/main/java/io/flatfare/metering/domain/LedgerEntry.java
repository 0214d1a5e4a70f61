package io.flatfare.metering.domain;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;
import java.time.LocalDate;

/** One usage event as rated; the event id is the primary key, so a request is in the ledger at most once. */
@Entity
@Table(name = "usage_ledger")
public class LedgerEntry {

    @Id
    @Column(name = "event_id")
    public String eventId;

    @Column(name = "account_id", nullable = false)
    public String accountId;

    @Column(name = "api_key_id", nullable = false)
    public String apiKeyId;

    public String model;

    @Column(name = "price_tier")
    public String priceTier;

    @Column(nullable = false)
    public String endpoint;

    @Column(nullable = false)
    public String outcome;

    @Column(nullable = false)
    public boolean billable;

    @Column(name = "occurred_at", nullable = false)
    public Instant occurredAt;

    @Column(name = "usage_day", nullable = false)
    public LocalDate usageDay;

    @Column(name = "billing_period", nullable = false)
    public String billingPeriod;

    @Column(name = "plan_id")
    public String planId;

    @Column(name = "plan_version")
    public Integer planVersion;

    @Column(name = "price_version")
    public Integer priceVersion;

    @Column(name = "price_effective_from")
    public Instant priceEffectiveFrom;

    @Column(name = "unit_price_micros")
    public Long unitPriceMicros;

    @Column(name = "amount_micros", nullable = false)
    public long amountMicros;

    public String currency;

    @Column(name = "included_in_plan", nullable = false)
    public boolean includedInPlan;

    @Column(name = "rated_at", nullable = false)
    public Instant ratedAt;

    @Column(name = "source_partition", nullable = false)
    public int sourcePartition;

    @Column(name = "source_offset", nullable = false)
    public long sourceOffset;
}
