package io.flatfare.registry.api.grpc;

import com.google.protobuf.Timestamp;
import io.flatfare.contracts.registry.v1.Capability;
import io.flatfare.contracts.registry.v1.Instance;
import io.flatfare.contracts.registry.v1.InstanceState;
import io.flatfare.contracts.registry.v1.Model;
import io.flatfare.contracts.registry.v1.ModelStatus;
import io.flatfare.registry.domain.InstanceEntity;
import io.flatfare.registry.domain.ModelEntity;
import java.time.Instant;

/** Domain entities to protobuf messages and back; the enums share their constant names. */
final class ProtoMapper {

    private ProtoMapper() {}

    static Model toProto(ModelEntity m) {
        return Model.newBuilder()
                .setId(m.id)
                .setDisplayName(m.displayName)
                .addAllAliases(m.aliases.stream().sorted().toList())
                .setOwnedBy(m.ownedBy)
                .addAllCapabilities(m.capabilities.stream()
                        .sorted()
                        .map(c -> Capability.valueOf(c.name()))
                        .toList())
                .setContextLength(m.contextLength)
                .setMaxOutputTokens(m.maxOutputTokens)
                .setPriceTier(m.priceTier)
                .setStatus(ModelStatus.valueOf(m.status.name()))
                .setCreated(timestamp(m.createdAt))
                .build();
    }

    static Instance toProto(InstanceEntity i) {
        return Instance.newBuilder()
                .setId(i.id)
                .setGrpcAddress(i.grpcAddress)
                .addAllModels(i.models.keySet().stream().sorted().toList())
                .putAllContextLengths(i.models)
                .setSlots(i.slots)
                .setState(InstanceState.valueOf(i.state.name()))
                .setLastHeartbeat(timestamp(i.lastHeartbeat))
                .build();
    }

    /** UNSPECIFIED (or a value from a newer client) means "not given". */
    static io.flatfare.registry.domain.InstanceState fromProto(InstanceState state) {
        return switch (state) {
            case STARTING -> io.flatfare.registry.domain.InstanceState.STARTING;
            case READY -> io.flatfare.registry.domain.InstanceState.READY;
            case DRAINING -> io.flatfare.registry.domain.InstanceState.DRAINING;
            case INSTANCE_STATE_UNSPECIFIED, UNRECOGNIZED -> null;
        };
    }

    static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder()
                .setSeconds(instant.getEpochSecond())
                .setNanos(instant.getNano())
                .build();
    }
}
