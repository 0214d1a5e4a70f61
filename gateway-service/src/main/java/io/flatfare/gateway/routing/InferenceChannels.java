package io.flatfare.gateway.routing;

import io.grpc.Channel;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoop;
import io.netty.channel.nio.NioEventLoop;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.quarkus.arc.InjectableInstance;
import io.quarkus.grpc.GlobalInterceptor;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.impl.ContextInternal;
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
 * Plaintext gRPC channels to the inference instances, created on first use: per address, one channel on each Vert.x
 * event loop that calls it, plus one on grpc-java's own threads for callers off the event loops. A call started on
 * an event loop then runs entirely on it: the request is written, and the answer read and relayed to the HTTP
 * response of the same loop, without a hand-off to another thread (each would be a thread wake-up per message). A
 * channel whose address left the registry is shut down gracefully (calls on it finish); all are closed at shutdown.
 */
@ApplicationScoped
public class InferenceChannels {

    private record Open(ManagedChannel managed, Channel intercepted) {}

    /** Stands for "no event loop" in the per-address maps (which take no null key). */
    private static final Object SHARED = new Object();

    /** The channels of one address, by the event loop they run on ({@link #SHARED}: grpc-java's own threads). */
    private final Map<String, Map<Object, Open>> channels = new ConcurrentHashMap<>();

    private final List<ClientInterceptor> interceptors;
    private final int maxResponseBytes;
    private final List<EventLoop> eventLoops;
    private volatile boolean closed;

    /** Applies the application's global client interceptors (trace propagation), as Quarkus does for its clients. */
    @Inject
    InferenceChannels(@Any InjectableInstance<ClientInterceptor> beans, RoutingConfig config, Vertx vertx) {
        this(global(beans), config, nioEventLoops(vertx));
    }

    InferenceChannels(List<ClientInterceptor> interceptors, RoutingConfig config, List<EventLoop> eventLoops) {
        this.interceptors = List.copyOf(interceptors);
        this.maxResponseBytes = config.maxResponseBytes();
        this.eventLoops = List.copyOf(eventLoops);
    }

    private static List<EventLoop> nioEventLoops(Vertx vertx) {
        var loops = new ArrayList<EventLoop>();
        for (var executor : vertx.nettyEventLoopGroup()) {
            if (executor instanceof NioEventLoop loop) {
                loops.add(loop);
            }
        }
        return loops;
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

    /** The channel to {@code host:port} for the calling thread: its event loop's, or the shared one. */
    Channel get(String address) {
        if (closed) {
            throw new IllegalStateException("The gateway is shutting down");
        }
        return channel(address, currentEventLoop()).intercepted();
    }

    /** The channel to {@code address} on {@code loop} (null: the shared one), opened on first use. */
    private Open channel(String address, EventLoop loop) {
        Map<Object, Open> byLoop = channels.computeIfAbsent(address, a -> new ConcurrentHashMap<>());
        return byLoop.computeIfAbsent(loop == null ? SHARED : loop, key -> open(address, loop));
    }

    /**
     * Opens, for each address, every channel a request could use (one per event loop and the shared one) and has
     * each connect now, or reconnect when it went idle, so that no request waits for a TCP and HTTP/2 handshake.
     * Returns at once; the connections are made in the background.
     */
    void connect(Set<String> addresses) {
        for (String address : addresses) {
            if (closed) {
                return;
            }
            channel(address, null).managed().getState(true);
            for (EventLoop loop : eventLoops) {
                channel(address, loop).managed().getState(true);
            }
        }
    }

    /** Shuts down the channels to every address not in {@code live}. */
    void retainOnly(Set<String> live) {
        channels.entrySet().removeIf(entry -> {
            if (live.contains(entry.getKey())) {
                return false;
            }
            entry.getValue().values().forEach(open -> open.managed().shutdown());
            return true;
        });
    }

    /** The state of each channel to {@code address}, without asking any to connect. */
    List<ConnectivityState> states(String address) {
        Map<Object, Open> byLoop = channels.getOrDefault(address, Map.of());
        return byLoop.values().stream()
                .map(open -> open.managed().getState(false))
                .toList();
    }

    /** Addresses with an open channel. */
    Set<String> addresses() {
        return Set.copyOf(channels.keySet());
    }

    @PreDestroy
    void close() {
        closed = true;
        channels.values()
                .forEach(
                        byLoop -> byLoop.values().forEach(open -> open.managed().shutdownNow()));
        channels.clear();
    }

    /**
     * The Netty event loop of the Vert.x event-loop context the caller runs on; null on any other thread, or when
     * Vert.x uses a native transport (its channels would need the matching socket type).
     */
    private static EventLoop currentEventLoop() {
        Context context = Vertx.currentContext();
        if (context == null || !context.isEventLoopContext() || !Context.isOnEventLoopThread()) {
            return null;
        }
        EventLoop loop = ((ContextInternal) context).nettyEventLoop();
        return loop instanceof NioEventLoop ? loop : null;
    }

    private Open open(String address, EventLoop loop) {
        NettyChannelBuilder builder = NettyChannelBuilder.forTarget(address)
                .usePlaintext()
                .maxInboundMessageSize(maxResponseBytes)
                .directExecutor();
        if (loop != null) {
            // The loop belongs to Vert.x: the channel uses it and never shuts it down.
            builder.eventLoopGroup(loop).channelType(NioSocketChannel.class);
        }
        ManagedChannel managed = builder.build();
        return new Open(managed, ClientInterceptors.intercept(managed, interceptors));
    }
}
