package io.flatfare.gateway.limits;

import io.flatfare.gateway.account.Plan;
import io.flatfare.gateway.limits.LimitExceededException.Kind;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.redis.client.Redis;
import io.vertx.mutiny.redis.client.Response;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.function.Supplier;

/**
 * The plan limits kept in Redis and shared by every gateway replica: one script call per admission and one per
 * release. Keys are {@code flatfare:limits:{accountId}:rate|inflight|quota}; the hash tag puts an account's keys in
 * one cluster slot, as a script touching several keys needs.
 */
final class RedisLimitStore {

    static final LuaScript ADMIT = LuaScript.fromResources("calendar.lua", "admit.lua");
    static final LuaScript RELEASE = LuaScript.fromResources("release.lua");

    static final String WARM_UP_ACCOUNT_PREFIX = "warm-up-";
    private static final Plan WARM_UP_PLAN =
            new Plan("warm-up", Set.of(Plan.ALL_MODELS), Set.of(), Integer.MAX_VALUE, null, null, null, null);

    private final Supplier<Redis> redis;
    private final Duration timeout;
    private final Duration lease;
    private final Duration concurrencyRetryAfter;

    /** @param redis the client to send each call with (the calling event loop's, see {@link EventLoopRedis}) */
    RedisLimitStore(Supplier<Redis> redis, Duration timeout, Duration lease, Duration concurrencyRetryAfter) {
        this.redis = redis;
        this.timeout = timeout;
        this.lease = lease;
        this.concurrencyRetryAfter = concurrencyRetryAfter;
    }

    /**
     * Checks and consumes the plan's limits for one request; the verdict arrives on the caller's Vert.x context
     * when there is one. Fails when Redis cannot be reached, or with {@link io.smallrye.mutiny.TimeoutException}
     * when it does not answer within the timeout.
     */
    Uni<Verdict> admit(String accountId, String requestId, Plan plan) {
        return ADMIT.run(
                        redis.get(),
                        keys(accountId, "rate", "inflight", "quota"),
                        List.of(
                                requestId,
                                limit(plan.requestsPerMinute()),
                                limit(plan.concurrentRequests()),
                                limit(plan.requestsPerMonth()),
                                Long.toString(lease.toMillis())))
                .ifNoItem()
                .after(timeout)
                .fail()
                .map(reply -> verdict(reply, plan));
    }

    private Verdict verdict(Response reply, Plan plan) {
        String refused = reply.get(1).toString();
        RateLimitStatus rate = plan.requestsPerMinute() == null
                ? null
                : new RateLimitStatus(
                        plan.requestsPerMinute(),
                        reply.get(3).toLong(),
                        Duration.ofMillis(reply.get(4).toLong()));
        Kind kind = refused.isEmpty() ? null : Kind.valueOf(refused);
        Duration retryAfter = kind == Kind.CONCURRENCY
                ? concurrencyRetryAfter
                : Duration.ofMillis(reply.get(2).toLong());
        return new Verdict(kind, retryAfter, rate, reply.get(5).toLong());
    }

    /** Whether admissions under this plan hold a slot in Redis that a release must free. */
    static boolean tracksInFlight(Plan plan) {
        return plan.concurrentRequests() != null || plan.requestsPerMonth() != null;
    }

    /** Frees the request's slot and, when {@code refund}, gives it back to the quota of {@code month}. */
    Uni<Void> release(String accountId, String requestId, boolean refund, long month) {
        return release(accountId, requestId, refund, month, null, true);
    }

    /**
     * {@link #release}, and when {@code rateOf} is a plan with a rate, gives the request's place in the rate back too:
     * the request is withdrawn, as if it had never been admitted. {@code tracked}: whether the admission put the
     * request in flight (then only the release that takes it out gives anything back).
     */
    Uni<Void> release(String accountId, String requestId, boolean refund, long month, Plan rateOf, boolean tracked) {
        Integer rate = rateOf == null ? null : rateOf.requestsPerMinute();
        String interval = rate == null || rate < 1 ? "" : Long.toString(rateIntervalMicros(rate));
        return RELEASE.run(
                        redis.get(),
                        keys(accountId, "inflight", "quota", "rate"),
                        List.of(requestId, refund ? "1" : "0", Long.toString(month), interval, tracked ? "1" : "0"))
                .ifNoItem()
                .after(timeout)
                .fail()
                .replaceWithVoid();
    }

    /**
     * Before the first request needs them: opens a connection, caches both scripts in Redis and runs the admission
     * once, for a made-up account ({@value #WARM_UP_ACCOUNT_PREFIX}…, never an account id) whose only limit is a rate
     * so high that the one key it writes expires within a millisecond.
     */
    Uni<Void> warmUp() {
        Redis client = redis.get();
        return ADMIT.load(client)
                .chain(() -> RELEASE.load(client))
                .chain(() -> admit(WARM_UP_ACCOUNT_PREFIX + UUID.randomUUID(), "req_warmup", WARM_UP_PLAN))
                .replaceWithVoid()
                .ifNoItem()
                .after(timeout)
                .fail();
    }

    /** The time one request takes up in the rate's bucket, as the admit script computes it. */
    static long rateIntervalMicros(int requestsPerMinute) {
        return Math.ceilDiv(60_000_000L, requestsPerMinute);
    }

    private static List<String> keys(String accountId, String... names) {
        String prefix = "flatfare:limits:{" + accountId + "}:";
        return Arrays.stream(names).map(name -> prefix + name).toList();
    }

    private static String limit(Number limit) {
        return limit == null ? "" : limit.toString();
    }
}
