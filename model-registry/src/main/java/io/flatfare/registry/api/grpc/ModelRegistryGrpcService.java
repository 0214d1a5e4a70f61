package io.flatfare.registry.api.grpc;

import io.flatfare.contracts.registry.v1.DeregisterRequest;
import io.flatfare.contracts.registry.v1.DeregisterResponse;
import io.flatfare.contracts.registry.v1.HeartbeatRequest;
import io.flatfare.contracts.registry.v1.HeartbeatResponse;
import io.flatfare.contracts.registry.v1.ListRequest;
import io.flatfare.contracts.registry.v1.ListResponse;
import io.flatfare.contracts.registry.v1.ModelRegistry;
import io.flatfare.contracts.registry.v1.RegisterRequest;
import io.flatfare.contracts.registry.v1.RegisterResponse;
import io.flatfare.contracts.registry.v1.ResolveRequest;
import io.flatfare.contracts.registry.v1.ResolveResponse;
import io.flatfare.registry.domain.InstanceState;
import io.flatfare.registry.service.CatalogService;
import io.flatfare.registry.service.InstanceService;
import io.flatfare.registry.service.RegistryException;
import io.flatfare.support.api.DatabaseFailures;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcService;
import io.quarkus.logging.Log;
import io.smallrye.common.annotation.Blocking;
import io.smallrye.mutiny.Uni;
import java.util.function.Supplier;

/** gRPC face of the registry. Every call runs on a worker thread (JDBC) and maps failures to a Status. */
@GrpcService
@Blocking
public class ModelRegistryGrpcService implements ModelRegistry {

    private final CatalogService catalog;
    private final InstanceService instances;

    ModelRegistryGrpcService(CatalogService catalog, InstanceService instances) {
        this.catalog = catalog;
        this.instances = instances;
    }

    @Override
    public Uni<ResolveResponse> resolve(ResolveRequest request) {
        return call(() -> {
            var model = catalog.resolve(request.getName());
            var response = ResolveResponse.newBuilder().setModel(ProtoMapper.toProto(model));
            instances.routable(model.id).forEach(i -> response.addInstances(ProtoMapper.toProto(i)));
            return response.build();
        });
    }

    @Override
    public Uni<ListResponse> list(ListRequest request) {
        return call(() -> {
            var response = ListResponse.newBuilder();
            catalog.list(request.getIncludeRetired()).forEach(m -> response.addModels(ProtoMapper.toProto(m)));
            return response.build();
        });
    }

    @Override
    public Uni<RegisterResponse> register(RegisterRequest request) {
        return call(() -> {
            InstanceState state = ProtoMapper.fromProto(request.getState());
            var instance = instances.register(new InstanceService.Registration(
                    request.getInstanceId(),
                    request.getGrpcAddress(),
                    request.getModelsList(),
                    request.getContextLengthsMap(),
                    request.getSlots(),
                    state == null ? InstanceState.READY : state));
            long ttl = instances.ttl().toSeconds();
            return RegisterResponse.newBuilder()
                    .setInstance(ProtoMapper.toProto(instance))
                    .setTtlSeconds((int) ttl)
                    .setHeartbeatIntervalSeconds((int) Math.max(1, ttl / 3))
                    .build();
        });
    }

    @Override
    public Uni<HeartbeatResponse> heartbeat(HeartbeatRequest request) {
        return call(() -> {
            var instance = instances.heartbeat(request.getInstanceId(), ProtoMapper.fromProto(request.getState()));
            return HeartbeatResponse.newBuilder()
                    .setAcceptedAt(ProtoMapper.timestamp(instance.lastHeartbeat))
                    .build();
        });
    }

    @Override
    public Uni<DeregisterResponse> deregister(DeregisterRequest request) {
        return call(() -> {
            instances.deregister(request.getInstanceId());
            return DeregisterResponse.getDefaultInstance();
        });
    }

    private static <T> Uni<T> call(Supplier<T> body) {
        return Uni.createFrom().item(body).onFailure().transform(ModelRegistryGrpcService::toStatus);
    }

    private static StatusRuntimeException toStatus(Throwable failure) {
        if (failure instanceof RegistryException e) {
            Status status = switch (e.kind()) {
                case INVALID_ARGUMENT -> Status.INVALID_ARGUMENT;
                case NOT_FOUND -> Status.NOT_FOUND;
                case CONFLICT -> Status.ALREADY_EXISTS;
                case UNAVAILABLE -> Status.UNAVAILABLE;
            };
            return status.withDescription(e.getMessage()).asRuntimeException();
        }
        var sql = DatabaseFailures.sqlError(failure);
        if (sql.isPresent()) {
            Log.warnf("Registry database unavailable: %s", sql.get().getMessage());
            return Status.UNAVAILABLE
                    .withDescription("The registry database is unavailable; retry shortly.")
                    .asRuntimeException();
        }
        Log.error("Registry call failed", failure);
        return Status.INTERNAL.withDescription("Internal registry error.").asRuntimeException();
    }
}
