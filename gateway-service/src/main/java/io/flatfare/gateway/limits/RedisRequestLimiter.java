package io.flatfare.gateway.limits;

import io.flatfare.gateway.account.Caller;
import io.flatfare.gateway.account.Plan;
import io.flatfare.gateway.limits.LimitExceededException.Kind;
import io.flatfare.gateway.limits.LimitsConfig.UnavailablePolicy;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.smallrye.mutiny.TimeoutException;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import io.vertx.mutiny.redis.client.Redis;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * The plan limits, shared exactly by every replica through Redis, with the configured policy while Redis is
 * unreachable ({@link LimitsConfig#onRedisUnavailable()}). After a failed Redis call Redis is left alone for
 * {@link LimitsConfig#redisRetryInterval()}, so an outage costs one timeout per interval, not one per request.
 */
@Singleton
public class RedisRequestLimiter implements RequestLimiter {

    private static final Logger LOG = Logger.getLogger(RedisRequestLimiter.class);

    /** The longest the warm-up waits for every event loop's Redis client to connect, at least. */
    private static final Duration MIN_CONNECT_TIMEOUT = Duration.ofSeconds(5);

    private static final Admission UNLIMITED = new Admission() {
        @Override
        public Optional<RateLimitStatus> rate() {
            return Optional.empty();
        }

        @Override
        public void release(boolean billable) {}
    };

    private final RedisLimitStore store;
    private final LocalLimits local;
    private final UnavailablePolicy policy;
    private final Duration retryInterval;
    private final Duration timeout;
    private final Map<Kind, Counter> rejections = new EnumMap<>(Kind.class);
    private final Counter fallbacks;

    private final AtomicBoolean redisDown = new AtomicBoolean();
    private volatile long redisRetryAt;

    /** Null outside Quarkus (tests): one client serves every thread. */
    private final EventLoopRedis clients;

    @Inject
    RedisRequestLimiter(EventLoopRedis clients, LimitsConfig config, MeterRegistry registry) {
        this(clients, clients::current, config, registry);
    }

    /** With one client for every thread (tests outside Quarkus). */
    RedisRequestLimiter(Redis redis, LimitsConfig config, MeterRegistry registry) {
        this(null, () -> redis, config, registry);
    }

    private RedisRequestLimiter(
            EventLoopRedis clients, Supplier<Redis> redis, LimitsConfig config, MeterRegistry registry) {
        this.clients = clients;
        this.store = new RedisLimitStore(redis, config.redisTimeout(), config.lease(), config.concurrencyRetryAfter());
        this.local = new LocalLimits(config.concurrencyRetryAfter());
        this.policy = config.onRedisUnavailable();
        this.retryInterval = config.redisRetryInterval();
        this.timeout = config.redisTimeout();
        for (Kind kind : Kind.values()) {
            rejections.put(
                    kind,
                    Counter.builder("flatfare.gateway.limit.rejections")
                            .description("Requests refused by a plan limit")
                            .tag("kind", kind.name().toLowerCase(Locale.ROOT))
                            .register(registry));
        }
        this.fallbacks = Counter.builder("flatfare.gateway.limit.fallbacks")
                .description("Admissions decided without Redis, by the policy for an unreachable Redis")
                .tag("policy", policy.name().toLowerCase(Locale.ROOT))
                .register(registry);
    }

    @Override
    public Admission admit(Caller caller, String requestId) {
        if (!Infrastructure.canCallerThreadBeBlocked()) {
            throw new IllegalStateException("admit() blocks on Redis; call admitting() on an event loop");
        }
        return RequestLimiter.super.admit(caller, requestId);
    }

    @Override
    public Uni<Admission> admitting(Caller caller, String requestId) {
        Plan plan = caller.plan();
        if (plan.requestsPerMinute() == null && plan.concurrentRequests() == null && plan.requestsPerMonth() == null) {
            return Uni.createFrom().item(UNLIMITED);
        }
        String accountId = caller.accountId();
        if (!redisMayBeTried()) {
            return Uni.createFrom().item(() -> fallback(caller, null));
        }
        // Deferred: a failure to even send the script is a Redis failure like any other.
        Uni<Verdict> verdict = Uni.createFrom().deferred(() -> store.admit(accountId, requestId, plan));
        // The refusals are failures of their own (item suppliers), not thrown from the transformation, which would
        // wrap them with the Redis failure.
        return verdict.onItemOrFailure().transformToUni((decided, failure) -> {
            if (failure != null) {
                redisFailed(failure);
                if (failure instanceof TimeoutException && RedisLimitStore.tracksInFlight(plan)) {
                    // The script may still run once Redis answers; undo it then, as this request is decided
                    // without it.
                    store.release(accountId, requestId, true, currentMonth())
                            .subscribe()
                            .with(done -> {}, ignored -> {});
                }
                return Uni.createFrom().item(() -> fallback(caller, failure));
            }
            redisAnswered();
            return Uni.createFrom()
                    .item(() -> admitted(caller, decided, new SharedAdmission(accountId, requestId, plan, decided)));
        });
    }

    private Admission fallback(Caller caller, Throwable cause) {
        fallbacks.increment();
        if (policy == UnavailablePolicy.REJECT) {
            throw new LimitsUnavailableException(
                    "The plan limits cannot be checked right now; please retry shortly.",
                    retryInterval.compareTo(Duration.ofSeconds(1)) < 0 ? Duration.ofSeconds(1) : retryInterval,
                    cause);
        }
        String accountId = caller.accountId();
        Verdict verdict = local.admit(accountId, caller.plan());
        return admitted(caller, verdict, new LocalAdmission(accountId, caller.plan(), verdict));
    }

    /** The admission when the verdict admits the request, else the refusal. */
    private Admission admitted(Caller caller, Verdict verdict, Admission admission) {
        if (verdict.admitted()) {
            return admission;
        }
        rejections.get(verdict.refused()).increment();
        throw new LimitExceededException(
                verdict.refused(), message(verdict, caller.plan()), verdict.retryAfter(), verdict.rate());
    }

    private static String message(Verdict verdict, Plan plan) {
        return switch (verdict.refused()) {
            case RATE ->
                "Rate limit reached for requests: " + plan.requestsPerMinute() + " per minute. Please try again in "
                        + seconds(verdict.retryAfter()) + "s.";
            case CONCURRENCY ->
                "Too many requests in flight: your plan allows " + plan.concurrentRequests()
                        + " at once. Please try again when one has finished.";
            case QUOTA ->
                "You exceeded your monthly quota of " + plan.requestsPerMonth()
                        + " requests. It renews at the start of the next calendar month (UTC).";
        };
    }

    /**
     * Before the first request: connects to Redis, caches the limit scripts there and runs the admission once, for
     * a made-up account and a key that expires at once (no account's limits are touched), then opens a connection
     * from each event loop's client. An unreachable Redis is treated as by a request (the policy applies until it
     * answers); it does not hold up start-up beyond the timeout.
     */
    public void warmUp() {
        try {
            store.warmUp().await().indefinitely();
            redisAnswered();
        } catch (RuntimeException e) {
            redisFailed(e);
            return;
        }
        if (clients != null) {
            try {
                // Redis answered just now: a loop whose connection is slow to open is no reason to bypass Redis.
                clients.connect(timeout.compareTo(MIN_CONNECT_TIMEOUT) < 0 ? MIN_CONNECT_TIMEOUT : timeout);
            } catch (RuntimeException e) {
                LOG.warnf("Warm-up: not every event loop's Redis client is connected (%s)", e.getMessage());
            }
        }
    }

    private static long seconds(Duration duration) {
        return Math.max(1, (duration.toMillis() + 999) / 1000);
    }

    private boolean redisMayBeTried() {
        return !redisDown.get() || System.nanoTime() - redisRetryAt >= 0;
    }

    private void redisAnswered() {
        if (redisDown.compareAndSet(true, false)) {
            LOG.info("Redis answers again: plan limits are shared by all replicas again");
        }
    }

    private void redisFailed(Throwable failure) {
        redisRetryAt = System.nanoTime() + retryInterval.toNanos();
        if (redisDown.compareAndSet(false, true)) {
            LOG.warnf(
                    "Redis cannot be reached (%s); plan limits follow the '%s' policy until it answers",
                    failure.toString(), policy.name().toLowerCase(Locale.ROOT));
        }
    }

    /** The month id the admit script uses (year * 12 + month - 1, UTC), by this replica's clock. */
    private static long currentMonth() {
        ZonedDateTime now = ZonedDateTime.now(ZoneOffset.UTC);
        return now.getYear() * 12L + now.getMonthValue() - 1;
    }

    /** Admitted by Redis: the release goes to Redis too. */
    private final class SharedAdmission implements Admission {

        private final String accountId;
        private final String requestId;
        private final Plan plan;
        private final Verdict verdict;
        private final AtomicBoolean released = new AtomicBoolean();

        SharedAdmission(String accountId, String requestId, Plan plan, Verdict verdict) {
            this.accountId = accountId;
            this.requestId = requestId;
            this.plan = plan;
            this.verdict = verdict;
        }

        @Override
        public Optional<RateLimitStatus> rate() {
            return Optional.ofNullable(verdict.rate());
        }

        @Override
        public void release(boolean billable) {
            end(!billable, false, true);
        }

        @Override
        public void releaseInBackground(boolean billable) {
            end(!billable, false, false);
        }

        @Override
        public void withdraw() {
            end(true, true, false);
        }

        /**
         * Frees the request's slot in Redis, once; {@code giveBack}: to the monthly quota too; {@code withdraw}: to
         * the rate too, as if the request had never been admitted. {@code wait}: for Redis' answer, where blocking
         * is allowed.
         */
        private void end(boolean giveBack, boolean withdraw, boolean wait) {
            boolean tracked = RedisLimitStore.tracksInFlight(plan);
            boolean rate = withdraw && plan.requestsPerMinute() != null;
            if ((!tracked && !rate) || !released.compareAndSet(false, true)) {
                return;
            }
            try {
                Uni<Void> release = store.release(
                        accountId,
                        requestId,
                        giveBack && plan.requestsPerMonth() != null,
                        verdict.month(),
                        rate ? plan : null,
                        tracked);
                // A release that cannot reach Redis is left to the lease.
                if (wait && Infrastructure.canCallerThreadBeBlocked() && redisMayBeTried()) {
                    release.await().indefinitely();
                    redisAnswered();
                } else {
                    release.subscribe().with(done -> {}, failure -> LOG.debugf("Release not recorded: %s", failure));
                }
            } catch (RuntimeException e) {
                redisFailed(e);
                LOG.debugf("Release not recorded; the lease frees the slot: %s", e);
            }
        }
    }

    /** Admitted by this replica's fallback: the release goes to it too, even once Redis is back. */
    private final class LocalAdmission implements Admission {

        private final String accountId;
        private final Plan plan;
        private final Verdict verdict;
        private final AtomicBoolean released = new AtomicBoolean();

        LocalAdmission(String accountId, Plan plan, Verdict verdict) {
            this.accountId = accountId;
            this.plan = plan;
            this.verdict = verdict;
        }

        @Override
        public Optional<RateLimitStatus> rate() {
            return Optional.ofNullable(verdict.rate());
        }

        @Override
        public void release(boolean billable) {
            if (released.compareAndSet(false, true)) {
                local.release(accountId);
            }
        }

        @Override
        public void withdraw() {
            if (released.compareAndSet(false, true)) {
                local.withdraw(accountId, plan);
            }
        }
    }
}
