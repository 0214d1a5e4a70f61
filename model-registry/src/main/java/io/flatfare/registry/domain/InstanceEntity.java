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
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Set;

@Entity
@Table(name = "inference_instances")
public class InstanceEntity {

    @Id
    public String id;

    @Column(name = "grpc_address", nullable = false)
    public String grpcAddress;

    @ElementCollection(fetch = FetchType.EAGER)
    @CollectionTable(name = "instance_models", joinColumns = @JoinColumn(name = "instance_id"))
    @Column(name = "model_id", nullable = false)
    public Set<String> models = new HashSet<>();

    @Column(nullable = false)
    public int slots;

    @Enumerated(EnumType.STRING)
    @Column(nullable = false)
    public InstanceState state;

    @Column(name = "last_heartbeat", nullable = false)
    public Instant lastHeartbeat;

    @Column(name = "registered_at", nullable = false)
    public Instant registeredAt;

    public boolean isLive(Instant now, Duration ttl) {
        return lastHeartbeat.isAfter(now.minus(ttl));
    }
}
