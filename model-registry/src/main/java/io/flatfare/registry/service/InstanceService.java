package io.flatfare.registry.service;

import io.flatfare.registry.config.RegistryConfig;
import io.flatfare.registry.domain.InstanceEntity;
import io.flatfare.registry.domain.InstanceRepository;
import io.flatfare.registry.domain.InstanceState;
import io.flatfare.registry.domain.ModelEntity;
import io.flatfare.registry.domain.ModelRepository;
import io.flatfare.registry.domain.ModelStatus;
import io.flatfare.support.api.DatabaseFailures;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.logging.Log;
import io.quarkus.runtime.Startup;
import io.quarkus.scheduler.Scheduled;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.transaction.Transactional;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Live inference instances: registration, heartbeats, expiry. Created at start-up, so that its gauge of live
 * instances is exported from the first scrape, not only once something has used the service.
 */
@ApplicationScoped
@Startup
public class InstanceService {

    static final int MAX_SLOTS = 4096;
    static final int MAX_MODELS = 256;

    private final InstanceRepository instances;
    private final ModelRepository models;
    private final RegistryConfig config;
    private final Clock clock;
    private final AtomicLong liveCount = new AtomicLong();
    private final AtomicReference<Outage> outage = new AtomicReference<>();
    private volatile Instant lastGoodReap;
    private volatile boolean startChecked;
    /** {@link System#nanoTime} when this replica last looked at its instances (0: not yet), to notice a freeze. */
    private final AtomicLong lastAwakeNanos = new AtomicLong();

    InstanceService(
            InstanceRepository instances,
            ModelRepository models,
            RegistryConfig config,
            Clock clock,
            MeterRegistry meters) {
        this.instances = instances;
        this.models = models;
        this.config = config;
        this.clock = clock;
        meters.gauge("flatfare.registry.instances.live", liveCount);
    }

    /**
     * @param models the models served, by id or alias
     * @param contextLengths model (as named in {@code models}) -> the context one request may use on this instance;
     *     a model left out is taken to be served with the catalog's {@code context_length}
     */
    public record Registration(
            String instanceId,
            String grpcAddress,
            List<String> models,
            Map<String, Integer> contextLengths,
            int slots,
            InstanceState state) {}

    @Transactional
    public InstanceEntity register(Registration r) {
        if (!Names.isInstanceId(r.instanceId())) {
            throw RegistryException.invalid("instance_id", "instance_id must match " + Names.INSTANCE_ID + ".");
        }
        if (!Names.isGrpcAddress(r.grpcAddress())) {
            throw RegistryException.invalid("grpc_address", "grpc_address must be host:port.");
        }
        if (r.slots() < 1 || r.slots() > MAX_SLOTS) {
            throw RegistryException.invalid("slots", "slots must be between 1 and " + MAX_SLOTS + ".");
        }
        if (r.models().isEmpty() || r.models().size() > MAX_MODELS) {
            throw RegistryException.invalid("models", "An instance serves between 1 and " + MAX_MODELS + " models.");
        }
        if (r.state() == InstanceState.DRAINING) {
            throw RegistryException.invalid("state", "An instance cannot register as DRAINING.");
        }
        for (var context : r.contextLengths().entrySet()) {
            if (!r.models().contains(context.getKey())) {
                throw RegistryException.invalid(
                        "context_lengths", "Every model in context_lengths must also be in models.");
            }
            // A protobuf uint32 above Integer.MAX_VALUE arrives negative, and is refused here too.
            if (context.getValue() < 1 || context.getValue() > ModelEntity.MAX_TOKENS) {
                throw RegistryException.invalid(
                        "context_lengths",
                        "A context length must be between 1 and " + ModelEntity.MAX_TOKENS + " tokens.");
            }
        }
        var served = new LinkedHashMap<String, Integer>();
        for (String name : r.models()) {
            if (!Names.isAlias(name)) {
                throw RegistryException.modelNotFound(name);
            }
            ModelEntity model = models.findByIdOrAlias(name)
                    .filter(m -> m.status == ModelStatus.ACTIVE)
                    .orElseThrow(() -> RegistryException.modelNotFound(name));
            int context = r.contextLengths().getOrDefault(name, model.contextLength);
            // The same model named twice (by id and by alias) is served with the smaller context given.
            served.merge(model.id, context, Math::min);
            if (context < model.contextLength) {
                Log.warnf(
                        "Inference instance %s serves %s with a %d-token context, less than the %d its catalog entry"
                                + " advertises; clients are told the smaller",
                        r.instanceId(), model.id, context, model.contextLength);
            }
        }

        Instant now = clock.instant();
        var existing = instances.findByIdOptional(r.instanceId());
        if (existing.isPresent()
                && existing.get().isLive(cutoff())
                && !existing.get().grpcAddress.equals(r.grpcAddress())) {
            throw RegistryException.conflict(
                    "instance_id",
                    "instance_exists",
                    "The instance '" + r.instanceId() + "' is already registered live at another address.");
        }
        InstanceEntity instance = existing.orElseGet(() -> {
            var fresh = new InstanceEntity();
            fresh.id = r.instanceId();
            return fresh;
        });
        instance.grpcAddress = r.grpcAddress();
        instance.models.clear();
        instance.models.putAll(served);
        instance.slots = r.slots();
        instance.state = r.state();
        instance.lastHeartbeat = now;
        if (existing.isEmpty() || !existing.get().isLive(cutoff())) {
            instance.registeredAt = now;
        }
        instances.persist(instance);
        Log.infof(
                "Registered inference instance %s at %s serving %s (%d slots, %s)",
                instance.id, instance.grpcAddress, served.keySet(), instance.slots, instance.state);
        return instance;
    }

    /** Keeps an instance routable; an expired instance is NOT_FOUND even before the reaper removes it. */
    @Transactional
    public InstanceEntity heartbeat(String instanceId, InstanceState newState) {
        if (!Names.isInstanceId(instanceId)) {
            throw RegistryException.instanceNotFound(instanceId);
        }
        Instant now = clock.instant();
        var instance = instances
                .findByIdOptional(instanceId)
                .filter(i -> i.isLive(cutoff()))
                .orElseThrow(() -> RegistryException.instanceNotFound(instanceId));
        instance.lastHeartbeat = now;
        if (newState != null) {
            instance.state = newState;
        }
        return instance;
    }

    @Transactional
    public void deregister(String instanceId) {
        if (!Names.isInstanceId(instanceId) || !instances.deleteById(instanceId)) {
            throw RegistryException.instanceNotFound(instanceId);
        }
        Log.infof("Deregistered inference instance %s", instanceId);
    }

    @Transactional
    public List<InstanceEntity> routable(String modelId) {
        return instances.routable(modelId, cutoff());
    }

    @Transactional
    public List<InstanceEntity> live() {
        return instances.live(cutoff());
    }

    /** Runs on every registry replica; deleting the same expired rows twice is harmless. */
    @Scheduled(
            every = "${flatfare.registry.reap-interval:5s}",
            concurrentExecution = Scheduled.ConcurrentExecution.SKIP)
    void scheduledReap() {
        reap();
    }

    /**
     * The scheduled reap, which also watches the database: a reap that cannot reach it starts an outage (logged
     * once, not as an error every interval), the first that can ends it.
     */
    public void reap() {
        try {
            reapExpired();
        } catch (RuntimeException e) {
            if (DatabaseFailures.sqlError(e).isEmpty()) {
                throw e;
            }
            Instant lastGood = lastGoodReap == null ? clock.instant() : lastGoodReap;
            Outage before =
                    outage.getAndUpdate(o -> o == null ? new Outage(lastGood, null) : new Outage(o.lastGood(), null));
            if (before == null || before.graceUntil() != null) {
                Log.warnf(
                        "The registry database cannot be reached (%s): heartbeats are not recorded, and instances"
                                + " live at %s stay live until a TTL after it is back",
                        e.getClass().getSimpleName(), lastGood);
            }
            return;
        }
        Instant now = clock.instant();
        lastGoodReap = now;
        Outage current = outage.get();
        if (current == null) {
            return;
        }
        if (current.graceUntil() == null) {
            Instant graceUntil = now.plus(config.instanceTtl());
            if (outage.compareAndSet(current, new Outage(current.lastGood(), graceUntil))) {
                Log.infof(
                        "The registry database is back: instances live before it went away stay live until %s"
                                + " unless they heartbeat",
                        graceUntil);
            }
        } else if (!now.isBefore(current.graceUntil())) {
            outage.compareAndSet(current, null);
        }
    }

    /** Deletes expired instances and refreshes the live-instance gauge, so a scrape never queries the database. */
    @Transactional
    public long reapExpired() {
        long removed = instances.deleteExpired(cutoff());
        liveCount.set(instances.count("lastHeartbeat > ?1", cutoff()));
        if (removed > 0) {
            Log.infof("Removed %d inference instance(s) whose heartbeat expired", removed);
        }
        return removed;
    }

    public Duration ttl() {
        return config.instanceTtl();
    }

    /**
     * Heartbeats after this instant keep an instance live: now less the TTL, except during and for a TTL after an
     * outage of the database, when no instance could have its heartbeats recorded. Then it is the TTL before the
     * last reap that reached the database, so the instances live then stay live until they have had a whole TTL to
     * heartbeat again; without it, a database outage longer than the TTL would expire every instance the moment the
     * database came back, and the gateways would see no ready instance until each heartbeat re-registered it.
     */
    private Instant cutoff() {
        if (!startChecked) {
            startedAfterAbsence();
        }
        noticePause();
        Instant now = clock.instant();
        Instant normal = now.minus(config.instanceTtl());
        Outage o = outage.get();
        if (o == null || (o.graceUntil() != null && !now.isBefore(o.graceUntil()))) {
            return normal;
        }
        Instant lenient = o.lastGood().minus(config.instanceTtl());
        return lenient.isBefore(normal) ? lenient : normal;
    }

    /**
     * Before this replica answers anything about instances: the registry may have been away (this replica alone, or
     * every replica) for longer than a TTL, when no heartbeat could be recorded either. That is an outage that ends
     * now: the instances live when the newest heartbeat was recorded stay live until a TTL from now unless they
     * heartbeat. Without it, a registry restarted after more than a TTL expired every instance at its first reap,
     * and gateways saw no ready instance until each one's next heartbeat, answered NOT_FOUND, registered it again.
     * Where another replica kept recording heartbeats, the newest is recent and this changes nothing. A database
     * that cannot be reached leaves it for the next call (the caller's failure is the outage's).
     */
    public synchronized void startedAfterAbsence() {
        if (startChecked) {
            return;
        }
        Instant newest = instances.newestHeartbeat();
        if (newest != null) {
            Instant graceUntil = clock.instant().plus(config.instanceTtl());
            if (absentUntilNow(newest, graceUntil) == null
                    && newest.isBefore(clock.instant().minus(config.instanceTtl()))) {
                Log.infof(
                        "The registry was away since %s: instances live then stay live until %s unless they heartbeat",
                        newest, graceUntil);
            }
        }
        startChecked = true;
    }

    /**
     * A replica that did not run for a while (frozen by SIGSTOP or a debugger, its VM paused or migrated, a long
     * stop-the-world pause) recorded no heartbeat meanwhile either, and heartbeats then waiting on it may arrive after
     * its first reap, or a gateway's resolve before them. Longer than a reap interval and a heartbeat interval (TTL/3)
     * between two looks at its instances (the scheduled reap alone looks every reap interval), it is treated as an
     * absence, as at start: the instances live when the newest heartbeat was recorded stay live for a TTL unless they
     * heartbeat (where another replica kept recording heartbeats, the newest is recent and nothing changes). Measured
     * with the monotonic clock, which a pause does not stop.
     */
    private void noticePause() {
        long now = System.nanoTime();
        long last = lastAwakeNanos.getAndSet(now);
        Duration threshold = config.reapInterval().plus(config.instanceTtl().dividedBy(3));
        if (last == 0 || now - last <= threshold.toNanos()) {
            return;
        }
        Duration away = Duration.ofNanos(now - last);
        Instant newest;
        try {
            newest = instances.newestHeartbeat();
        } catch (RuntimeException e) {
            lastAwakeNanos.compareAndSet(now, last); // looked at again by the next call
            throw e;
        }
        if (newest == null) {
            return;
        }
        Instant graceUntil = clock.instant().plus(config.instanceTtl());
        Outage before = absentUntilNow(newest, graceUntil);
        if (before == null || before.graceUntil() != null) {
            Log.infof(
                    "This registry replica did not run for %d ms (frozen or paused): instances live at %s stay live"
                            + " until %s unless they heartbeat",
                    away.toMillis(), newest, graceUntil);
        }
    }

    /**
     * Records an absence of this replica that ends now (its start, or the end of a pause): the instances live at the
     * newest heartbeat recorded stay live until {@code graceUntil}. An outage of the database still going on keeps its
     * own rule; one in its grace is widened to cover both. Returns the outage as it was before.
     */
    private Outage absentUntilNow(Instant newest, Instant graceUntil) {
        return outage.getAndUpdate(o -> {
            if (o == null) {
                return new Outage(newest, graceUntil);
            }
            if (o.graceUntil() == null) {
                return o;
            }
            return new Outage(
                    o.lastGood().isBefore(newest) ? o.lastGood() : newest,
                    o.graceUntil().isAfter(graceUntil) ? o.graceUntil() : graceUntil);
        });
    }

    /**
     * This replica's view of an outage of its database (or of itself, see {@link #startedAfterAbsence}): the last
     * reap before it reached the database, or the newest heartbeat recorded before this replica started, at
     * {@code lastGood}; {@code graceUntil} is null while it lasts, then a TTL after the first reap that reached it.
     */
    private record Outage(Instant lastGood, Instant graceUntil) {}
}
