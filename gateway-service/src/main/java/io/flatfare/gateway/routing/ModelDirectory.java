package io.flatfare.gateway.routing;

import java.util.List;
import java.util.Optional;

/**
 * The model catalog from the registry, cached and refreshed. Both methods throw an {@link UpstreamException} of
 * kind {@link UpstreamException.Kind#NO_INSTANCE} when the registry cannot be reached and no recent enough view
 * of it is held. Both answer from the cached view without waiting; where they would wait for the registry (a stale
 * view, a name the view lacks) they throw {@link io.flatfare.gateway.service.WouldBlock} on an event loop.
 */
public interface ModelDirectory {

    /** The model for a canonical id or alias, or empty when the catalog has no active model by that name. Blocking. */
    Optional<ResolvedModel> resolve(String name);

    /** Every active model. Blocking. */
    List<ResolvedModel> list();

    /** Whether the current view has a READY instance of the model (canonical id); never waits, false when unsure. */
    boolean hasReadyInstance(String modelId);
}
