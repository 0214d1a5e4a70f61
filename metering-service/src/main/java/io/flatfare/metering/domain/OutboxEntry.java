package io.flatfare.metering.domain;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.SequenceGenerator;
import jakarta.persistence.Table;
import java.time.Instant;

/** A {@code RatedUsage} record waiting for Kafka's acknowledgement; see {@code RatedUsageRelay}. */
@Entity
@Table(name = "rated_usage_outbox")
public class OutboxEntry {

    // A pooled sequence keeps inserts batchable (an identity column would force one round trip per row).
    @Id
    @GeneratedValue(strategy = GenerationType.SEQUENCE, generator = "outbox_seq")
    @SequenceGenerator(name = "outbox_seq", sequenceName = "rated_usage_outbox_seq", allocationSize = 50)
    public Long id;

    @Column(name = "event_id", nullable = false, unique = true)
    public String eventId;

    @Column(name = "account_id", nullable = false)
    public String accountId;

    /** The exact JSON published, so that a re-send after a crash is byte-identical. */
    @Column(nullable = false)
    public String payload;

    @Column(name = "created_at", nullable = false)
    public Instant createdAt;
}
