package io.flatfare.registry.api.rest;

import io.flatfare.registry.domain.InstanceEntity;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** A live inference instance, for operators; {@code context_lengths}: model id -> the context it is served with. */
public record InstanceView(
        String id,
        String grpcAddress,
        List<String> models,
        Map<String, Integer> contextLengths,
        int slots,
        String state,
        Instant lastHeartbeat,
        Instant registeredAt) {

    static InstanceView of(InstanceEntity i) {
        return new InstanceView(
                i.id,
                i.grpcAddress,
                i.models.keySet().stream().sorted().toList(),
                new TreeMap<>(i.models),
                i.slots,
                i.state.name().toLowerCase(Locale.ROOT),
                i.lastHeartbeat,
                i.registeredAt);
    }
}
