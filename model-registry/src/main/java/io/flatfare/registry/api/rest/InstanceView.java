package io.flatfare.registry.api.rest;

import io.flatfare.registry.domain.InstanceEntity;
import java.time.Instant;
import java.util.List;
import java.util.Locale;

/** A live inference instance, for operators. */
public record InstanceView(
        String id,
        String grpcAddress,
        List<String> models,
        int slots,
        String state,
        Instant lastHeartbeat,
        Instant registeredAt) {

    static InstanceView of(InstanceEntity i) {
        return new InstanceView(
                i.id,
                i.grpcAddress,
                i.models.stream().sorted().toList(),
                i.slots,
                i.state.name().toLowerCase(Locale.ROOT),
                i.lastHeartbeat,
                i.registeredAt);
    }
}
