package io.flatfare.registry.service;

import io.flatfare.registry.domain.Capability;
import java.util.Set;

/** The mutable description of a catalog model, as given by an administrator. */
public record ModelSpec(
        String displayName,
        Set<String> aliases,
        String ownedBy,
        Set<Capability> capabilities,
        int contextLength,
        int maxOutputTokens,
        String priceTier) {}
