package io.flatfare.gateway.service;

import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.gateway.config.ApiConfig;
import io.flatfare.gateway.routing.InferenceRouter;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.smallrye.mutiny.subscription.MultiSubscriber;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Starts {@code Generate} calls for {@code /v1} requests. A call is "opened" when its first event arrives: until then
 * a failure can still be answered with its own HTTP status (and a retry on another instance is still possible),
 * after it the response is committed and a failure can only end the stream.
 */
@ApplicationScoped
public class Generations {

    private final InferenceRouter router;
    private final ApiConfig config;

    Generations(InferenceRouter router, ApiConfig config) {
        this.router = router;
        this.config = config;
    }

    /** The first event and the rest of the stream; {@code first} is null when the call ended without any event. */
    public record Opened(GenerateResponse first, Multi<GenerateResponse> rest) {}

    /**
     * Opens the call. The returned Uni fails with {@link ClientGoneException} if the client leaves before the first
     * event; a client that leaves later cancels the rest. Cancelling {@code rest} cancels the gRPC call.
     */
    public Uni<Opened> open(V1Call call, GenerateRequest request) {
        Instant deadline = call.receivedAt().plus(config.requestTimeout());
        Multi<GenerateResponse> upstream = router.generate(call.model(), request, deadline, call::instanceId);
        return Uni.createFrom().emitter(emitter -> {
            UnicastProcessor<GenerateResponse> rest = UnicastProcessor.create();
            AtomicReference<Flow.Subscription> subscription = new AtomicReference<>();
            AtomicBoolean opened = new AtomicBoolean();
            Runnable cancelUpstream = () -> {
                Flow.Subscription s = subscription.get();
                if (s != null) {
                    s.cancel();
                }
            };
            call.onClientGone(() -> {
                cancelUpstream.run();
                if (opened.compareAndSet(false, true)) {
                    emitter.fail(new ClientGoneException());
                } else {
                    rest.onError(new ClientGoneException());
                }
            });
            upstream.subscribe().withSubscriber(new MultiSubscriber<GenerateResponse>() {
                @Override
                public void onSubscribe(Flow.Subscription s) {
                    subscription.set(s);
                    // Tokens are small and bounded by max_tokens; the HTTP writer applies its own back-pressure.
                    s.request(Long.MAX_VALUE);
                }

                @Override
                public void onItem(GenerateResponse item) {
                    if (opened.compareAndSet(false, true)) {
                        emitter.complete(new Opened(item, rest.onCancellation().invoke(cancelUpstream)));
                    } else {
                        rest.onNext(item);
                    }
                }

                @Override
                public void onFailure(Throwable failure) {
                    if (opened.compareAndSet(false, true)) {
                        emitter.fail(failure);
                    } else {
                        rest.onError(failure);
                    }
                }

                @Override
                public void onCompletion() {
                    if (opened.compareAndSet(false, true)) {
                        emitter.complete(new Opened(null, rest));
                    }
                    rest.onComplete();
                }
            });
        });
    }
}
