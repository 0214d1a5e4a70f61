package io.flatfare.gateway.routing;

import com.google.protobuf.Timestamp;
import io.flatfare.contracts.inference.v1.EmbedRequest;
import io.flatfare.contracts.inference.v1.EmbedResponse;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.inference.v1.InferenceServiceGrpc;
import io.flatfare.contracts.inference.v1.InfoRequest;
import io.flatfare.contracts.registry.v1.Instance;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.logging.Log;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.subscription.MultiEmitter;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * Routes inference calls over gRPC to the READY instance with the fewest calls in flight from this gateway
 * (ties broken at random). Before anything was received, UNAVAILABLE and RESOURCE_EXHAUSTED are tried on another
 * instance, up to {@code max-attempts} instances. An instance that answers UNAVAILABLE (refused, reset, draining)
 * is left out for {@code unavailable-backoff}, so a dead instance stops receiving traffic before the registry's
 * heartbeat TTL drops it.
 */
@ApplicationScoped
public class GrpcInferenceRouter implements InferenceRouter {

    private final RegistryModelDirectory directory;
    private final InferenceChannels channels;
    private final RoutingConfig config;
    private final Clock clock;
    private final Map<String, AtomicInteger> inFlight = new ConcurrentHashMap<>();
    private final Map<String, Instant> backedOffUntil = new ConcurrentHashMap<>();

    @Inject
    GrpcInferenceRouter(RegistryModelDirectory directory, InferenceChannels channels, RoutingConfig config) {
        this(directory, channels, config, Clock.systemUTC());
    }

    GrpcInferenceRouter(
            RegistryModelDirectory directory, InferenceChannels channels, RoutingConfig config, Clock clock) {
        this.directory = directory;
        this.channels = channels;
        this.config = config;
        this.clock = clock;
        directory.onRefresh(this::followInstances);
    }

    @Override
    public Multi<GenerateResponse> generate(
            ResolvedModel model, GenerateRequest request, Instant deadline, Consumer<String> onInstance) {
        return Multi.createFrom().emitter(emitter -> {
            GenerateRequest sent = request.hasDeadline()
                    ? request
                    : request.toBuilder().setDeadline(timestamp(deadline)).build();
            new RoutedCall<>(InferenceServiceGrpc.getGenerateMethod(), sent, model.id(), deadline, onInstance, emitter)
                    .start();
        });
    }

    @Override
    public Uni<EmbedResponse> embed(
            ResolvedModel model, EmbedRequest request, Instant deadline, Consumer<String> onInstance) {
        return Multi.createFrom()
                .<EmbedResponse>emitter(emitter -> {
                    EmbedRequest sent = request.hasDeadline()
                            ? request
                            : request.toBuilder()
                                    .setDeadline(timestamp(deadline))
                                    .build();
                    new RoutedCall<>(
                                    InferenceServiceGrpc.getEmbedMethod(),
                                    sent,
                                    model.id(),
                                    deadline,
                                    onInstance,
                                    emitter)
                            .start();
                })
                .collect()
                .last()
                .onItem()
                .ifNull()
                .failWith(() -> new UpstreamException(
                        UpstreamException.Kind.FAILED, "The model returned no embeddings.", null, null, null));
    }

    /** Calls from this gateway now running on the instance at {@code address}. */
    int inFlight(String address) {
        AtomicInteger count = inFlight.get(address);
        return count == null ? 0 : count.get();
    }

    /** Whether the instance at {@code address} is left out of routing after an UNAVAILABLE failure. */
    boolean isBackedOff(String address) {
        Instant until = backedOffUntil.get(address);
        return until != null && until.isAfter(clock.instant());
    }

    /** The ready instance with the fewest calls in flight, leaving out those tried or backed off; null if none. */
    private Instance pick(String modelId, Set<String> tried) {
        List<Instance> best = new ArrayList<>();
        int least = Integer.MAX_VALUE;
        for (Instance instance : directory.readyInstances(modelId)) {
            String address = instance.getGrpcAddress();
            if (tried.contains(address) || isBackedOff(address)) {
                continue;
            }
            int load = inFlight(address);
            if (load < least) {
                best.clear();
                least = load;
            }
            if (load == least) {
                best.add(instance);
            }
        }
        return best.isEmpty() ? null : best.get(ThreadLocalRandom.current().nextInt(best.size()));
    }

    /** Counted inside the map's atomic compute, so pruning never drops a counter with calls in flight. */
    private AtomicInteger enter(String address) {
        return inFlight.compute(address, (key, count) -> {
            AtomicInteger counter = count == null ? new AtomicInteger() : count;
            counter.incrementAndGet();
            return counter;
        });
    }

    private void backOff(String address, Status status) {
        Instant until = clock.instant().plus(config.unavailableBackoff());
        Instant before = backedOffUntil.put(address, until);
        if (before == null || !before.isAfter(clock.instant())) {
            Log.warnf(
                    "Inference instance %s is unavailable (%s); left out of routing for %s",
                    address, status.getDescription(), config.unavailableBackoff());
        }
    }

    /**
     * Before the first request: connects to every ready instance on every channel a request could use, then calls
     * each instance's {@code Info} once, which loads and links the client call path (interceptors, marshalling, the
     * HTTP/2 codec) and warms the instance's own server path. An instance that does not answer is left to routing.
     */
    public void warmUp(Duration timeout) {
        Set<String> live = directory.addresses();
        channels.connect(live);
        for (String address : live) {
            try {
                InferenceServiceGrpc.newBlockingStub(channels.get(address))
                        .withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                        .info(InfoRequest.getDefaultInstance());
            } catch (StatusRuntimeException e) {
                Log.debugf("Warm-up: the inference instance at %s did not answer Info: %s", address, e.getStatus());
            }
        }
    }

    /** After each registry refresh: channels to departed instances are closed, those to new ones opened. */
    private void followInstances() {
        Set<String> live = directory.addresses();
        channels.retainOnly(live);
        channels.connect(live);
        Instant now = clock.instant();
        backedOffUntil.entrySet().removeIf(e -> !e.getValue().isAfter(now));
        for (String address : inFlight.keySet()) {
            inFlight.computeIfPresent(address, (key, count) -> count.get() == 0 && !live.contains(key) ? null : count);
        }
    }

    private static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder()
                .setSeconds(instant.getEpochSecond())
                .setNanos(instant.getNano())
                .build();
    }

    /**
     * One routed call: attempts on successive instances until one answers, then relays its messages. Calls on the
     * current {@link ClientCall} are made under this object's lock, since ClientCall is not thread-safe.
     */
    private final class RoutedCall<Q, R> {

        private final MethodDescriptor<Q, R> method;
        private final Q request;
        private final String modelId;
        private final Instant deadline;
        private final Consumer<String> onInstance;
        private final MultiEmitter<? super R> emitter;
        private final Set<String> tried = new HashSet<>();
        private final List<UpstreamErrors.Failure> failures = new ArrayList<>();
        private ClientCall<Q, R> call;
        private long granted;
        private boolean cancelled;
        private volatile boolean received;

        RoutedCall(
                MethodDescriptor<Q, R> method,
                Q request,
                String modelId,
                Instant deadline,
                Consumer<String> onInstance,
                MultiEmitter<? super R> emitter) {
            this.method = method;
            this.request = request;
            this.modelId = modelId;
            this.deadline = deadline;
            this.onInstance = onInstance;
            this.emitter = emitter;
        }

        void start() {
            emitter.onTermination(this::cancel);
            emitter.onRequest(this::grant);
            attempt();
        }

        /** Starts the call on the next instance, or ends the stream when none is left. */
        private void attempt() {
            Instance instance;
            try {
                Duration remaining = Duration.between(clock.instant(), deadline);
                if (remaining.isNegative() || remaining.isZero()) {
                    emitter.fail(UpstreamErrors.deadlineExceeded(null));
                    return;
                }
                synchronized (this) {
                    if (cancelled) {
                        return;
                    }
                    instance = tried.size() < config.maxAttempts() ? pick(modelId, tried) : null;
                    if (instance != null) {
                        tried.add(instance.getGrpcAddress());
                    }
                }
                if (instance == null) {
                    List<UpstreamErrors.Failure> seen;
                    synchronized (this) {
                        seen = List.copyOf(failures);
                    }
                    emitter.fail(UpstreamErrors.exhausted(
                            seen, modelId, RegistryModelDirectory.retryAfter(config.refreshInterval())));
                    return;
                }
                onInstance.accept(instance.getId());
                String address = instance.getGrpcAddress();
                synchronized (this) {
                    if (cancelled) {
                        return;
                    }
                    AtomicInteger counter = enter(address);
                    ClientCall<Q, R> next;
                    try {
                        next = channels.get(address)
                                .newCall(
                                        method,
                                        CallOptions.DEFAULT.withDeadlineAfter(
                                                remaining.toNanos(), TimeUnit.NANOSECONDS));
                    } catch (RuntimeException e) {
                        counter.decrementAndGet();
                        throw e;
                    }
                    call = next;
                    granted = 0;
                    next.start(new Listener(address, counter), new Metadata());
                    next.sendMessage(request);
                    next.halfClose();
                    // Demand that arrived before this call existed; later demand comes through onRequest.
                    grant(emitter.requested());
                }
            } catch (UpstreamException e) {
                emitter.fail(e);
            } catch (RuntimeException e) {
                // Also reached from a gRPC callback, where a throw would leave the subscriber waiting for ever.
                emitter.fail(new UpstreamException(
                        UpstreamException.Kind.FAILED, "The request could not be routed.", null, null, e));
            }
        }

        /** Passes the subscriber's demand on to gRPC's flow control, never more than an int in total. */
        private synchronized void grant(long demand) {
            if (call == null || cancelled || demand <= 0) {
                return;
            }
            long allowed = Math.min(demand, Integer.MAX_VALUE - granted);
            if (allowed > 0) {
                granted += allowed;
                call.request((int) allowed);
            }
        }

        /** The subscriber went away (or the stream ended): stop the call at once. */
        private synchronized void cancel() {
            cancelled = true;
            if (call != null) {
                call.cancel("The caller cancelled the request", null);
            }
        }

        private synchronized boolean isCancelled() {
            return cancelled;
        }

        private final class Listener extends ClientCall.Listener<R> {

            private final String address;
            private final AtomicInteger counter;

            Listener(String address, AtomicInteger counter) {
                this.address = address;
                this.counter = counter;
            }

            @Override
            public void onMessage(R message) {
                received = true;
                emitter.emit(message);
            }

            /** gRPC calls this exactly once per started call, on every path: the one place the count goes down. */
            @Override
            public void onClose(Status status, Metadata trailers) {
                counter.decrementAndGet();
                if (status.getCode() == Status.Code.UNAVAILABLE) {
                    backOff(address, status);
                }
                if (status.isOk()) {
                    emitter.complete();
                    return;
                }
                if (isCancelled()) {
                    return;
                }
                if (!received && UpstreamErrors.isRetryable(status, trailers)) {
                    synchronized (RoutedCall.this) {
                        failures.add(new UpstreamErrors.Failure(status, trailers));
                    }
                    attempt();
                    return;
                }
                emitter.fail(UpstreamErrors.map(status, trailers, modelId, received));
            }
        }
    }
}
