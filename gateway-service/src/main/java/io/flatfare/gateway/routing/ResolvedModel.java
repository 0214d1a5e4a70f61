package io.flatfare.gateway.routing;

import io.flatfare.contracts.registry.v1.Capability;
import java.time.Instant;
import java.util.List;
import java.util.Set;

/**
 * A model from the registry as the gateway routes to it.
 *
 * @param id canonical model id
 * @param aliases the model's aliases
 * @param ownedBy {@code owned_by} for {@code /v1/models}
 * @param created when the model entered the catalog
 * @param capabilities what the model can do (chat, completion, embeddings, ...)
 * @param contextLength the context one request may use, in tokens: the catalog's, or less where a ready instance
 *     serves the model with less
 * @param maxOutputTokens the most tokens one request may generate (0 when the catalog sets no cap)
 * @param priceTier flat price tier
 * @param readyInstances instances that are READY for it now
 */
public record ResolvedModel(
        String id,
        List<String> aliases,
        String ownedBy,
        Instant created,
        Set<Capability> capabilities,
        int contextLength,
        int maxOutputTokens,
        String priceTier,
        int readyInstances) {

    public ResolvedModel {
        aliases = List.copyOf(aliases);
        capabilities = Set.copyOf(capabilities);
    }
}
