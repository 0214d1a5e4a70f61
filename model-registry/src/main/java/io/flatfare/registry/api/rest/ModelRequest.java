package io.flatfare.registry.api.rest;

import io.flatfare.registry.domain.Capability;
import io.flatfare.registry.domain.ModelEntity;
import io.flatfare.registry.service.ModelSpec;
import io.flatfare.registry.service.Names;
import io.flatfare.support.api.Storable;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Positive;
import jakarta.validation.constraints.Size;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * A model as an administrator writes it. On create {@code id} is required; on update the id comes from
 * the path and a body id, if given, must match it.
 */
public record ModelRequest(
        @Pattern(regexp = Names.MODEL_ID, message = "must be lower-case letters, digits and . _ : - (at most 64)")
        String id,

        @NotBlank @Size(max = 200) @Pattern(regexp = Storable.ONE_LINE, message = Storable.ONE_LINE_MESSAGE)
        String displayName,

        @Size(max = 32) List<@NotNull @Pattern(regexp = Names.ALIAS, message = "is not a valid alias") String> aliases,

        @NotBlank @Size(max = 100) @Pattern(regexp = Storable.ONE_LINE, message = Storable.ONE_LINE_MESSAGE)
        String ownedBy,

        @NotEmpty List<@NotNull CapabilityName> capabilities,
        @NotNull @Positive @Max(ModelEntity.MAX_TOKENS) Integer contextLength,
        @NotNull @Positive @Max(ModelEntity.MAX_TOKENS) Integer maxOutputTokens,

        @NotNull @Pattern(regexp = Names.PRICE_TIER, message = "must be a lower-case tier name such as small or large")
        String priceTier) {

    ModelSpec toSpec() {
        var caps = EnumSet.noneOf(Capability.class);
        capabilities.forEach(c -> caps.add(c.capability()));
        return new ModelSpec(
                displayName.strip(),
                aliases == null ? new LinkedHashSet<>() : new LinkedHashSet<>(aliases),
                ownedBy.strip(),
                caps,
                contextLength,
                maxOutputTokens,
                priceTier);
    }
}
