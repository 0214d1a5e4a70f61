package io.flatfare.gateway.routing;

import io.flatfare.contracts.inference.v1.EmbedRequest;
import io.flatfare.contracts.inference.v1.EmbedResponse;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import java.time.Instant;
import java.util.function.Consumer;

/**
 * Sends inference calls to a READY instance of a model (fewest requests in flight first), with a deadline. Before
 * anything was received from an instance, an UNAVAILABLE or RESOURCE_EXHAUSTED failure is retried on another one.
 * Cancelling the subscription cancels the gRPC call at once. Every failure is an {@link UpstreamException}.
 */
public interface InferenceRouter {

    /**
     * The streamed events of a {@code Generate} call; nothing happens until subscription.
     *
     * @param onInstance told the id of the instance that serves the call (called again if a retry moves it)
     */
    Multi<GenerateResponse> generate(
            ResolvedModel model, GenerateRequest request, Instant deadline, Consumer<String> onInstance);

    /** An {@code Embed} call; nothing happens until subscription. */
    Uni<EmbedResponse> embed(ResolvedModel model, EmbedRequest request, Instant deadline, Consumer<String> onInstance);
}
