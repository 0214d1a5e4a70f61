package io.flatfare.metering.domain;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.IdClass;
import jakarta.persistence.Table;
import java.io.Serializable;
import java.time.Instant;

/** One version of a price tier's flat price per request. Never updated: a change is a new version. */
@Entity
@Table(name = "tier_prices")
@IdClass(TierPrice.Key.class)
public class TierPrice {

    public record Key(String tier, int version) implements Serializable {
        public Key() {
            this(null, 0);
        }
    }

    @Id
    public String tier;

    @Id
    public int version;

    @Column(name = "effective_from", nullable = false)
    public Instant effectiveFrom;

    @Column(name = "price_micros", nullable = false)
    public long priceMicros;

    @Column(nullable = false)
    public String currency;

    @Column(name = "created_at", nullable = false)
    public Instant createdAt;
}
