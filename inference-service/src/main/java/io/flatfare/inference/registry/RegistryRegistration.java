package io.flatfare.inference.registry;

import io.flatfare.contracts.registry.v1.DeregisterRequest;
import io.flatfare.contracts.registry.v1.HeartbeatRequest;
import io.flatfare.contracts.registry.v1.InstanceState;
import io.flatfare.contracts.registry.v1.ModelRegistryGrpc;
import io.flatfare.contracts.registry.v1.RegisterRequest;
import io.flatfare.inference.config.InferenceConfig;
import io.flatfare.inference.config.InstanceIdentity;
import io.flatfare.inference.service.ResidentModel;
import io.flatfare.inference.service.ResidentModels;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.logging.Log;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Announces this instance to the model registry once every model is warm (an instance in the registry is
 * ready: no cold starts), keeps it routable with heartbeats, re-registers when the registry forgot it, and
 * on shutdown leaves routing first (DRAINING) and deregisters after the drain.
 */
@ApplicationScoped
public class RegistryRegistration {

    private final InferenceConfig config;
    private final InstanceIdentity identity;
    private final ModelRegistryGrpc.ModelRegistryBlockingStub registry;
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(
            r -> Thread.ofPlatform().name("registry-heartbeat").daemon(true).unstarted(r));
    private volatile ResidentModels.AllReady models;
    private volatile boolean registered;
    private volatile long heartbeatSeconds = 5;

    RegistryRegistration(
            InferenceConfig config,
            InstanceIdentity identity,
            @GrpcClient("registry") ModelRegistryGrpc.ModelRegistryBlockingStub registry) {
        this.config = config;
        this.identity = identity;
        this.registry = registry;
    }

    void onModelsReady(@Observes ResidentModels.AllReady ready) {
        if (!config.registry().enabled()) {
            Log.info("Registry registration is disabled");
            return;
        }
        this.models = ready;
        scheduler.execute(this::registerOrRetry);
    }

    private void registerOrRetry() {
        try {
            register();
            scheduler.schedule(this::heartbeat, heartbeatSeconds, TimeUnit.SECONDS);
        } catch (StatusRuntimeException e) {
            Log.warnf("Could not register with the model registry (%s); retrying", e.getStatus());
            scheduler.schedule(this::registerOrRetry, heartbeatSeconds, TimeUnit.SECONDS);
        }
    }

    private void register() {
        var request = RegisterRequest.newBuilder()
                .setInstanceId(identity.instanceId())
                .setGrpcAddress(identity.advertisedAddress(InstanceIdentity.boundPort()))
                .setState(InstanceState.READY)
                .setSlots(models.models().stream()
                        .mapToInt(m -> m.settings().slots())
                        .sum());
        for (ResidentModel model : models.models()) {
            request.addModels(model.id()).putContextLengths(model.id(), model.contextLength());
        }
        var response = stub().register(request.build());
        heartbeatSeconds = Math.max(1, response.getHeartbeatIntervalSeconds());
        registered = true;
        Log.infof(
                "Registered as %s at %s serving %s",
                identity.instanceId(), request.getGrpcAddress(), request.getModelsList());
    }

    private void heartbeat() {
        try {
            stub().heartbeat(HeartbeatRequest.newBuilder()
                    .setInstanceId(identity.instanceId())
                    .setState(InstanceState.READY)
                    .build());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.NOT_FOUND) {
                Log.warn("The registry no longer knows this instance; registering again");
                scheduler.execute(this::registerOrRetry);
                return;
            }
            Log.warnf("Heartbeat failed (%s)", e.getStatus());
        }
        scheduler.schedule(this::heartbeat, heartbeatSeconds, TimeUnit.SECONDS);
    }

    /** Leaves routing before the drain starts, so no new work arrives while in-flight work finishes. */
    void onShutdownStart(@Observes @Priority(0) ShutdownEvent event) {
        if (!registered) {
            return;
        }
        try {
            stub().heartbeat(HeartbeatRequest.newBuilder()
                    .setInstanceId(identity.instanceId())
                    .setState(InstanceState.DRAINING)
                    .build());
        } catch (StatusRuntimeException e) {
            Log.warnf("Could not announce DRAINING to the registry (%s)", e.getStatus());
        }
    }

    /** After the drain (ResidentModels observes at priority 1), removes this instance from the registry. */
    void onShutdownEnd(@Observes @Priority(2) ShutdownEvent event) {
        scheduler.shutdownNow();
        if (!registered) {
            return;
        }
        try {
            stub().deregister(DeregisterRequest.newBuilder()
                    .setInstanceId(identity.instanceId())
                    .build());
            Log.infof("Deregistered %s from the model registry", identity.instanceId());
        } catch (StatusRuntimeException e) {
            Log.warnf("Could not deregister (%s); the registry drops this instance when its TTL passes", e.getStatus());
        }
    }

    public boolean isRegistered() {
        return registered;
    }

    private ModelRegistryGrpc.ModelRegistryBlockingStub stub() {
        return registry.withDeadlineAfter(config.registry().callTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }
}
