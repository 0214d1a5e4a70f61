package io.flatfare.gateway.limits;

import static org.assertj.core.api.Assertions.assertThat;

import io.flatfare.gateway.account.Caller;
import io.flatfare.gateway.account.Plan;
import io.flatfare.gateway.limits.LimitsConfig.UnavailablePolicy;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.mutiny.core.Vertx;
import io.vertx.mutiny.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * Gateway replicas for limiter tests: each limiter has its own Vert.x instance and Redis connection pool, as separate
 * gateway processes would, and its own meter registry.
 */
final class Gateways implements AutoCloseable {

    record Settings(
            UnavailablePolicy onRedisUnavailable,
            Duration redisTimeout,
            Duration redisRetryInterval,
            Duration lease,
            Duration concurrencyRetryAfter)
            implements LimitsConfig {

        /** Generous timeouts: a busy test machine must not send these tests to the fallback. */
        static Settings shared() {
            return new Settings(
                    UnavailablePolicy.LOCAL,
                    Duration.ofSeconds(10),
                    Duration.ofMillis(200),
                    Duration.ofMinutes(10),
                    Duration.ofSeconds(1));
        }

        Settings withPolicy(UnavailablePolicy policy) {
            return new Settings(policy, redisTimeout, redisRetryInterval, lease, concurrencyRetryAfter);
        }

        Settings withTimeout(Duration timeout) {
            return new Settings(onRedisUnavailable, timeout, redisRetryInterval, lease, concurrencyRetryAfter);
        }

        Settings withLease(Duration lease) {
            return new Settings(onRedisUnavailable, redisTimeout, redisRetryInterval, lease, concurrencyRetryAfter);
        }
    }

    /** One replica: its limiter and what it counted. */
    record Gateway(RedisRequestLimiter limiter, SimpleMeterRegistry meters) {

        Admission admit(Caller caller) {
            return limiter.admit(caller, UUID.randomUUID().toString());
        }

        double fallbacks() {
            return meters.get("flatfare.gateway.limit.fallbacks").counter().count();
        }

        double rejections(LimitExceededException.Kind kind) {
            return meters.get("flatfare.gateway.limit.rejections")
                    .tag("kind", kind.name().toLowerCase())
                    .counter()
                    .count();
        }
    }

    private final List<Vertx> vertxes = new ArrayList<>();
    private final String redisUrl;

    Gateways(String redisUrl) {
        this.redisUrl = redisUrl;
    }

    Gateway start(LimitsConfig settings) {
        Vertx vertx = Vertx.vertx();
        vertxes.add(vertx);
        Redis redis = Redis.createClient(
                vertx, new RedisOptions().setConnectionString(redisUrl).setMaxPoolWaiting(1024));
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        RedisRequestLimiter limiter = new RedisRequestLimiter(redis, settings, meters);
        // Outside Quarkus, Mutiny's context propagation initialises lazily and fails when first used by many threads
        // at once; one call first does that (as Quarkus does at start-up) before any test counts fallbacks.
        limiter.admit(caller(1, 1, 1L), "warm-up").release(false);
        return new Gateway(limiter, meters);
    }

    /** A caller of a new account, so tests sharing a Redis server never share limits. */
    static Caller caller(Integer requestsPerMinute, Integer concurrentRequests, Long requestsPerMonth) {
        Plan plan = new Plan(
                "test",
                Set.of(Plan.ALL_MODELS),
                Set.of(),
                requestsPerMinute,
                concurrentRequests,
                requestsPerMonth,
                null,
                null);
        return new Caller("acct-" + UUID.randomUUID(), "key-1", plan);
    }

    /**
     * Runs {@code count} calls at once (released together by a latch) and returns what each returned or threw; only
     * {@link LimitExceededException} may be thrown, anything else fails the test.
     */
    static List<Object> atOnce(int count, IntFunction<Admission> call) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(count);
        try {
            CountDownLatch ready = new CountDownLatch(count);
            CountDownLatch go = new CountDownLatch(1);
            List<Future<Object>> futures = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                int index = i;
                futures.add(pool.submit(() -> {
                    ready.countDown();
                    go.await();
                    try {
                        return call.apply(index);
                    } catch (LimitExceededException e) {
                        return e;
                    }
                }));
            }
            ready.await();
            go.countDown();
            List<Object> results = new ArrayList<>();
            for (Future<Object> future : futures) {
                results.add(future.get());
            }
            return results;
        } finally {
            pool.shutdownNow();
        }
    }

    static List<Admission> admitted(List<Object> results) {
        return results.stream()
                .filter(Admission.class::isInstance)
                .map(Admission.class::cast)
                .toList();
    }

    static List<LimitExceededException> refused(List<Object> results) {
        List<LimitExceededException> refused = results.stream()
                .filter(LimitExceededException.class::isInstance)
                .map(LimitExceededException.class::cast)
                .toList();
        assertThat(admitted(results).size() + refused.size()).isEqualTo(results.size());
        return refused;
    }

    @Override
    public void close() {
        vertxes.forEach(Vertx::closeAndAwait);
    }
}
