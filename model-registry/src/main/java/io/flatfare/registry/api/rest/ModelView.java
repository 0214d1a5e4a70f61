package io.flatfare.registry.api.rest;

import io.flatfare.registry.domain.ModelEntity;
import java.time.Instant;
import java.util.List;
import java.util.Locale;

/** A catalog model as the admin API returns it. */
public record ModelView(
        String id,
        String object,
        String displayName,
        List<String> aliases,
        String ownedBy,
        List<CapabilityName> capabilities,
        int contextLength,
        int maxOutputTokens,
        String priceTier,
        String status,
        Instant createdAt,
        Instant updatedAt) {

    static ModelView of(ModelEntity m) {
        return new ModelView(
                m.id,
                "model",
                m.displayName,
                m.aliases.stream().sorted().toList(),
                m.ownedBy,
                m.capabilities.stream().sorted().map(CapabilityName::of).toList(),
                m.contextLength,
                m.maxOutputTokens,
                m.priceTier,
                m.status.name().toLowerCase(Locale.ROOT),
                m.createdAt,
                m.updatedAt);
    }
}
