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
import jakarta.persistence.MapKeyColumn;
import jakarta.persistence.Table;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;

@Entity
@Table(name = "inference_instances")
public class InstanceEntity {

    @Id
    public String id;

    @Column(name = "grpc_address", nullable = false)
    public String grpcAddress;

    /** Model id -> the context (tokens of one request: prompt + output) this instance serves it with. */
    @ElementCollection(fetch = FetchType.EAGER)
    @CollectionTable(name = "instance_models", joinColumns = @JoinColumn(name = "instance_id"))
    @MapKeyColumn(name = "model_id")
    @Column(name = "context_length", nullable = false)
    public Map<String, Integer> models = new HashMap<>();

    @Column(nullable = false)
    public int slots;

    @Enumerated(EnumType.STRING)
    @Column(nullable = false)
    public InstanceState state;

    @Column(name = "last_heartbeat", nullable = false)
    public Instant lastHeartbeat;

    @Column(name = "registered_at", nullable = false)
    public Instant registeredAt;

    /** Live when its last heartbeat is after the cutoff (now less the TTL, or earlier after a database outage). */
    public boolean isLive(Instant cutoff) {
        return lastHeartbeat.isAfter(cutoff);
    }
}
