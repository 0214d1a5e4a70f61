package io.flatfare.gateway.limits;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.EventExecutor;
import io.quarkus.redis.client.RedisOptionsCustomizer;
import io.quarkus.redis.runtime.client.ObservableRedis;
import io.quarkus.redis.runtime.client.ObservableRedisMetrics;
import io.quarkus.redis.runtime.client.VertxRedisClientFactory;
import io.smallrye.mutiny.Uni;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.impl.ContextInternal;
import io.vertx.core.impl.VertxInternal;
import io.vertx.core.net.NetClientOptions;
import io.vertx.mutiny.redis.client.Command;
import io.vertx.mutiny.redis.client.Redis;
import io.vertx.mutiny.redis.client.Request;
import io.vertx.redis.client.RedisOptions;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jboss.logging.Logger;

/**
 * Redis clients for the plan limits, one per Vert.x event loop, so that a command sent from an event loop is written,
 * and its answer read, on that same loop.
 *
 * <p>A Vert.x Redis client binds every pooled connection to the one context it was created on; Quarkus creates its
 * client at start-up, so all its connections live on one event loop. A request handled on any other loop then handed
 * each command to that loop's thread and got the answer back through a second hand-off: two thread wake-ups per
 * command, four per request (admission and release), on the request's critical path. Here each loop has a client of
 * its own, made from the options Quarkus built for its default client (hosts, password, TLS, pool settings, tracing)
 * and reporting the same metrics; callers off the event loops (blocking callers, start-up) use Quarkus' client.
 */
@Singleton
public class EventLoopRedis {

    private static final Logger LOG = Logger.getLogger(EventLoopRedis.class);

    /** Keeps a copy of the options Quarkus built for its default Redis client, just before it creates the client. */
    @Singleton
    static class DefaultClientOptions implements RedisOptionsCustomizer {

        private volatile RedisOptions options;

        @Override
        public void customize(String clientName, RedisOptions options) {
            if (VertxRedisClientFactory.DEFAULT_CLIENT.equals(clientName)) {
                this.options = new RedisOptions(options);
            }
        }

        RedisOptions get() {
            return options;
        }
    }

    private record LoopClient(ContextInternal context, Redis redis) {}

    private final Redis shared;
    private final Map<EventLoop, LoopClient> byLoop;

    @Inject
    EventLoopRedis(Redis shared, DefaultClientOptions options, Vertx vertx, Instance<ObservableRedisMetrics> metrics) {
        this.shared = shared;
        RedisOptions captured = options.get();
        if (captured == null) {
            // Quarkus did not show its options (no default client, or a version that no longer asks customizers).
            LOG.warn("The Redis client's options are unknown; every event loop uses the one shared client");
            this.byLoop = Map.of();
            return;
        }
        ObservableRedisMetrics reporter = metrics.isResolvable() ? metrics.get() : ObservableRedisMetrics.NOOP;
        Map<EventLoop, LoopClient> clients = new IdentityHashMap<>();
        // Quarkus names its default client's pool "<default>"; the loops' pools are "default-loop-<n>".
        String poolName = captured.getPoolName() == null
                ? "default"
                : captured.getPoolName().replaceAll("[<>]", "");
        for (EventExecutor executor : vertx.nettyEventLoopGroup()) {
            if (executor instanceof EventLoop loop) {
                // Names of its own for its pool's and its connections' metrics (redis_pool_*, redis_active_connections
                // …), which Micrometer would otherwise drop as duplicates of the first client's. Quarkus names the
                // latter "redis|<client>"; the options' copy shares its NetClientOptions, hence a copy of those.
                String loopName = poolName + "-loop-" + clients.size();
                RedisOptions loopOptions = new RedisOptions(captured).setPoolName(loopName);
                loopOptions.setNetClientOptions(
                        new NetClientOptions(captured.getNetClientOptions()).setMetricsName("redis|" + loopName));
                ContextInternal context = ((VertxInternal) vertx)
                        .createEventLoopContext(
                                loop, null, Thread.currentThread().getContextClassLoader());
                // The client takes the context current at its creation as the one of all its connections.
                io.vertx.redis.client.Redis[] created = new io.vertx.redis.client.Redis[1];
                context.dispatch(
                        () -> created[0] = io.vertx.redis.client.Redis.createClient(context.owner(), loopOptions));
                Redis client = Redis.newInstance(
                        new ObservableRedis(created[0], VertxRedisClientFactory.DEFAULT_CLIENT, reporter));
                clients.put(loop, new LoopClient(context, client));
            }
        }
        this.byLoop = clients;
    }

    /** The client for the calling thread: its event loop's, or the shared one off the event loops. */
    public Redis current() {
        Context context = Vertx.currentContext();
        if (context != null && Context.isOnEventLoopThread()) {
            LoopClient client = byLoop.get(((ContextInternal) context).nettyEventLoop());
            if (client != null) {
                return client.redis();
            }
        }
        return shared;
    }

    /** How many event loops have a client of their own. */
    int loops() {
        return byLoop.size();
    }

    /**
     * Opens a connection from every event loop's client (a {@code PING} sent on its loop), so that no request waits
     * for a TCP and Redis handshake; fails when one does not answer within {@code timeout}. Waits, so it must not
     * be called on an event loop.
     */
    void connect(Duration timeout) {
        if (Context.isOnEventLoopThread()) {
            throw new IllegalStateException("connect() waits for every event loop; call it off the event loops");
        }
        List<CompletableFuture<Object>> pings = new ArrayList<>();
        for (LoopClient client : byLoop.values()) {
            CompletableFuture<Object> ping = new CompletableFuture<>();
            client.context().runOnContext(ignored -> send(client.redis(), ping));
            pings.add(ping);
        }
        try {
            CompletableFuture.allOf(pings.toArray(CompletableFuture[]::new))
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while connecting to Redis", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("Redis did not answer: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("Redis did not answer within " + timeout, e);
        }
    }

    private static void send(Redis redis, CompletableFuture<Object> done) {
        Uni.createFrom()
                .deferred(() -> redis.send(Request.cmd(Command.PING)))
                .subscribe()
                .with(done::complete, done::completeExceptionally);
    }

    @PreDestroy
    void close() {
        byLoop.values().forEach(client -> client.redis().close());
    }
}
