package io.flatfare.gateway.routing;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.flatfare.contracts.registry.v1.Capability;
import io.flatfare.contracts.registry.v1.Instance;
import io.flatfare.contracts.registry.v1.InstanceState;
import io.flatfare.contracts.registry.v1.ListRequest;
import io.flatfare.contracts.registry.v1.Model;
import io.flatfare.contracts.registry.v1.ModelRegistryGrpc.ModelRegistryBlockingStub;
import io.flatfare.contracts.registry.v1.ModelStatus;
import io.flatfare.contracts.registry.v1.ResolveRequest;
import io.flatfare.contracts.registry.v1.ResolveResponse;
import io.flatfare.gateway.service.WouldBlock;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.logging.Log;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The registry's catalog and the READY instances of every active model, held in memory and refreshed every
 * {@code refresh-interval} by one background thread, so a request never waits for the registry. While the
 * registry cannot be reached the last good view is served for up to {@code max-staleness}; after that, and
 * before the first load, lookups fail with {@link UpstreamException.Kind#NO_INSTANCE}.
 */
@ApplicationScoped
public class RegistryModelDirectory implements ModelDirectory {

    /** Longest name sent to the registry on a miss; the registry's own ids and aliases are far shorter. */
    private static final int MAX_NAME_LENGTH = 256;

    /** Names the registry did not know, remembered briefly so a stream of bad names cannot hammer it. */
    private static final int MAX_REMEMBERED_UNKNOWN = 10_000;

    /** A model and the instances that are READY for it. */
    record Entry(ResolvedModel model, List<Instance> ready) {}

    private record View(
            Map<String, Entry> byId, Map<String, String> idByName, List<ResolvedModel> models, Instant loadedAt) {

        View withName(String name, Entry entry) {
            var ids = new HashMap<>(idByName);
            ids.put(name, entry.model().id());
            var entries = new LinkedHashMap<>(byId);
            entries.put(entry.model().id(), entry);
            return new View(Map.copyOf(entries), Map.copyOf(ids), models, loadedAt);
        }
    }

    private final ModelRegistryBlockingStub registry;
    private final RoutingConfig config;
    private final Clock clock;
    private final AtomicReference<View> view = new AtomicReference<>();
    private final Object refreshLock = new Object();
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private final Cache<String, Boolean> unknownNames;
    private volatile Instant lastFailure;
    private volatile boolean failing;
    private ScheduledExecutorService refresher;

    @Inject
    RegistryModelDirectory(@GrpcClient("registry") ModelRegistryBlockingStub registry, RoutingConfig config) {
        this(registry, config, Clock.systemUTC());
    }

    RegistryModelDirectory(ModelRegistryBlockingStub registry, RoutingConfig config, Clock clock) {
        this.registry = registry;
        this.config = config;
        this.clock = clock;
        this.unknownNames = Caffeine.newBuilder()
                .maximumSize(MAX_REMEMBERED_UNKNOWN)
                .expireAfterWrite(config.refreshInterval())
                .build();
    }

    /** Loads the catalog before the application reports ready, when the registry answers; then keeps refreshing. */
    void onStart(@Observes StartupEvent event) {
        refresh();
        start();
    }

    /** Starts the periodic refresh; its first round runs after one interval. */
    synchronized void start() {
        if (refresher != null) {
            return;
        }
        refresher = Executors.newSingleThreadScheduledExecutor(r -> {
            var thread = new Thread(r, "registry-refresh");
            thread.setDaemon(true);
            return thread;
        });
        long period = config.refreshInterval().toMillis();
        refresher.scheduleWithFixedDelay(this::refreshInBackground, period, period, TimeUnit.MILLISECONDS);
    }

    @PreDestroy
    synchronized void stop() {
        if (refresher != null) {
            refresher.shutdownNow();
            refresher = null;
        }
    }

    @Override
    public Optional<ResolvedModel> resolve(String name) {
        return entry(name).map(Entry::model);
    }

    @Override
    public List<ResolvedModel> list() {
        return current().models();
    }

    @Override
    public boolean hasReadyInstance(String modelId) {
        View current = view.get();
        return isFresh(current) && !ready(current, modelId).isEmpty();
    }

    /**
     * The READY instances of a model (by canonical id) in the current view; empty when none or unknown. Never waits
     * for the registry, so routing may call it on an event loop.
     */
    List<Instance> readyInstances(String modelId) {
        View current = view.get();
        if (!isFresh(current)) {
            throw unreachable();
        }
        return ready(current, modelId);
    }

    private static List<Instance> ready(View current, String modelId) {
        Entry entry = current.byId().get(modelId);
        return entry == null ? List.of() : entry.ready();
    }

    /** Every instance address in the current view (for closing channels to instances that went away). */
    Set<String> addresses() {
        View current = view.get();
        if (current == null) {
            return Set.of();
        }
        var addresses = new HashSet<String>();
        current.byId().values().forEach(e -> e.ready().forEach(i -> addresses.add(i.getGrpcAddress())));
        return addresses;
    }

    /** Runs after every successful refresh. */
    void onRefresh(Runnable listener) {
        listeners.add(listener);
    }

    /** When the view was last loaded in full from the registry; empty until the first load. */
    Optional<Instant> loadedAt() {
        return Optional.ofNullable(view.get()).map(View::loadedAt);
    }

    /** Active models in the current view (0 before the first load). */
    int modelCount() {
        View current = view.get();
        return current == null ? 0 : current.models().size();
    }

    Optional<Entry> entry(String name) {
        if (name == null || name.isBlank() || name.length() > MAX_NAME_LENGTH) {
            return Optional.empty();
        }
        View current = current();
        String id = current.idByName().get(name);
        if (id != null) {
            return Optional.ofNullable(current.byId().get(id));
        }
        if (unknownNames.getIfPresent(name) != null) {
            return Optional.empty();
        }
        // A model added since the last refresh, or a spelling the registry accepts that the view lacks.
        WouldBlock.unlessBlockingAllowed();
        try {
            Entry entry = toEntry(
                    stub().resolve(ResolveRequest.newBuilder().setName(name).build()));
            view.updateAndGet(v -> v == null ? null : v.withName(name, entry));
            return Optional.of(entry);
        } catch (StatusRuntimeException e) {
            Status.Code code = e.getStatus().getCode();
            if (code == Status.Code.NOT_FOUND || code == Status.Code.INVALID_ARGUMENT) {
                unknownNames.put(name, Boolean.TRUE);
            }
            // Registry unreachable: the view is recent enough to be trusted, and it does not know the name.
            return Optional.empty();
        }
    }

    /**
     * Fetches a new view; on failure the last good one stays. Runs one round at a time.
     *
     * @return whether the registry answered
     */
    boolean refresh() {
        synchronized (refreshLock) {
            try {
                View fresh = fetch();
                view.set(fresh);
                unknownNames.invalidateAll();
                lastFailure = null;
                if (failing) {
                    failing = false;
                    Log.infof(
                            "Model registry reachable again: %d active models",
                            fresh.models().size());
                }
            } catch (StatusRuntimeException e) {
                lastFailure = clock.instant();
                if (!failing) {
                    failing = true;
                    Log.warnf(
                            "Model registry unreachable (%s); serving the view loaded at %s for up to %s",
                            e.getStatus().getCode(),
                            loadedAt().map(Instant::toString).orElse("never"),
                            config.maxStaleness());
                }
                return false;
            }
        }
        for (Runnable listener : listeners) {
            listener.run();
        }
        return true;
    }

    private void refreshInBackground() {
        try {
            refresh();
        } catch (RuntimeException e) {
            // An exception would end the scheduled task; keep refreshing.
            Log.error("Refreshing the model catalog failed", e);
        }
    }

    /** The view, if recent enough; otherwise one synchronous refresh, unless one failed moments ago. */
    private View current() {
        View current = view.get();
        if (isFresh(current)) {
            return current;
        }
        WouldBlock.unlessBlockingAllowed();
        synchronized (refreshLock) {
            current = view.get();
            if (isFresh(current)) {
                return current;
            }
            Instant failed = lastFailure;
            // While the registry is down the background refresh keeps trying; requests fail fast meanwhile.
            boolean recentlyFailed =
                    failed != null && failed.plus(config.refreshInterval()).isAfter(clock.instant());
            if (!recentlyFailed && refresh()) {
                return view.get();
            }
        }
        throw unreachable();
    }

    private UpstreamException unreachable() {
        return new UpstreamException(
                UpstreamException.Kind.NO_INSTANCE,
                "The model registry cannot be reached; retry shortly.",
                retryAfter(config.refreshInterval()),
                null,
                null);
    }

    private boolean isFresh(View current) {
        return current != null
                && !current.loadedAt().plus(config.maxStaleness()).isBefore(clock.instant());
    }

    /** One round: the catalog, then the READY instances of each active model. */
    private View fetch() {
        var byId = new LinkedHashMap<String, Entry>();
        var idByName = new HashMap<String, String>();
        for (Model model : stub().list(ListRequest.getDefaultInstance()).getModelsList()) {
            if (model.getStatus() != ModelStatus.ACTIVE) {
                continue;
            }
            ResolveResponse resolved;
            try {
                resolved = stub().resolve(ResolveRequest.newBuilder()
                        .setName(model.getId())
                        .build());
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() == Status.Code.NOT_FOUND) {
                    continue; // retired between the two calls
                }
                throw e;
            }
            Entry entry = toEntry(resolved);
            byId.put(entry.model().id(), entry);
            idByName.put(entry.model().id(), entry.model().id());
            entry.model()
                    .aliases()
                    .forEach(alias -> idByName.put(alias, entry.model().id()));
        }
        List<ResolvedModel> models = byId.values().stream().map(Entry::model).toList();
        return new View(Map.copyOf(byId), Map.copyOf(idByName), models, clock.instant());
    }

    private ModelRegistryBlockingStub stub() {
        return registry.withDeadlineAfter(config.registryTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }

    private static Entry toEntry(ResolveResponse response) {
        Model model = response.getModel();
        List<Instance> ready = response.getInstancesList().stream()
                .filter(i -> i.getState() == InstanceState.READY)
                .toList();
        Set<Capability> capabilities = EnumSet.noneOf(Capability.class);
        for (Capability capability : model.getCapabilitiesList()) {
            if (capability != Capability.UNRECOGNIZED && capability != Capability.CAPABILITY_UNSPECIFIED) {
                capabilities.add(capability);
            }
        }
        var resolved = new ResolvedModel(
                model.getId(),
                model.getAliasesList(),
                model.getOwnedBy(),
                Instant.ofEpochSecond(
                        model.getCreated().getSeconds(), model.getCreated().getNanos()),
                capabilities,
                contextLength(model, ready),
                model.getMaxOutputTokens(),
                model.getPriceTier(),
                ready.size());
        return new Entry(resolved, ready);
    }

    /**
     * The context a request can count on: the catalog's, or less when a ready instance serves the model with less
     * (a pool configured smaller than the catalog says; instances that report nothing serve the catalog's).
     */
    static int contextLength(Model model, List<Instance> ready) {
        int context = model.getContextLength();
        for (Instance instance : ready) {
            int served = instance.getContextLengthsOrDefault(model.getId(), 0);
            if (served > 0) {
                context = Math.min(context, served);
            }
        }
        return context;
    }

    /** Retry-After is sent in whole seconds; never less than one. */
    static Duration retryAfter(Duration hint) {
        long seconds = Math.max(1, (hint.toMillis() + 999) / 1000);
        return Duration.ofSeconds(seconds);
    }
}
