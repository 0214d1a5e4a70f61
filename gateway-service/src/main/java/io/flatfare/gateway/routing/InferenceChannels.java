package io.flatfare.gateway.routing;

import io.grpc.Channel;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.quarkus.arc.InjectableInstance;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Any;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One plaintext gRPC channel per inference instance address, created on first use. A channel whose address
 * left the registry is shut down gracefully (calls on it finish); all are closed at shutdown.
 */
@ApplicationScoped
public class InferenceChannels {

    private record Open(ManagedChannel managed, Channel intercepted) {}

    private final Map<String, Open> channels = new ConcurrentHashMap<>();
    private final List<ClientInterceptor> interceptors;
    private final int maxResponseBytes;
    private volatile boolean closed;

    /** Applies the application's global client interceptors (trace propagation), as Quarkus does for its clients. */
    @Inject
    InferenceChannels(@Any InjectableInstance<ClientInterceptor> beans, RoutingConfig config) {
        this(global(beans), config);
    }

    InferenceChannels(List<ClientInterceptor> interceptors, RoutingConfig config) {
        this.interceptors = List.copyOf(interceptors);
        this.maxResponseBytes = config.maxResponseBytes();
    }

    private static List<ClientInterceptor> global(InjectableInstance<ClientInterceptor> beans) {
        var global = new ArrayList<ClientInterceptor>();
        for (var handle : beans.handles()) {
            if (handle.getBean().getBeanClass().isAnnotationPresent(GlobalInterceptor.class)) {
                global.add(handle.get());
            }
        }
        return global;
    }

    /** The channel to {@code host:port}. */
    Channel get(String address) {
        if (closed) {
            throw new IllegalStateException("The gateway is shutting down");
        }
        return channels.computeIfAbsent(address, this::open).intercepted();
    }

    /** Shuts down the channels to every address not in {@code live}. */
    void retainOnly(Set<String> live) {
        channels.entrySet().removeIf(entry -> {
            if (live.contains(entry.getKey())) {
                return false;
            }
            entry.getValue().managed().shutdown();
            return true;
        });
    }

    /** Addresses with an open channel. */
    Set<String> addresses() {
        return Set.copyOf(channels.keySet());
    }

    @PreDestroy
    void close() {
        closed = true;
        channels.values().forEach(open -> open.managed().shutdownNow());
        channels.clear();
    }

    private Open open(String address) {
        ManagedChannel managed = NettyChannelBuilder.forTarget(address)
                .usePlaintext()
                .maxInboundMessageSize(maxResponseBytes)
                .directExecutor()
                .build();
        return new Open(managed, ClientInterceptors.intercept(managed, interceptors));
    }
}
