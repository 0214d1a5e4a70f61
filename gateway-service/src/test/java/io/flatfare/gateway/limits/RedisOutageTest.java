package io.flatfare.gateway.limits;

import static io.flatfare.gateway.limits.Gateways.admitted;
import static io.flatfare.gateway.limits.Gateways.atOnce;
import static io.flatfare.gateway.limits.Gateways.caller;
import static io.flatfare.gateway.limits.Gateways.refused;
import static io.flatfare.gateway.limits.SharedLimitsTest.kindOf;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import io.flatfare.gateway.account.Caller;
import io.flatfare.gateway.limits.Gateways.Gateway;
import io.flatfare.gateway.limits.Gateways.Settings;
import io.flatfare.gateway.limits.LimitExceededException.Kind;
import io.flatfare.gateway.limits.LimitsConfig.UnavailablePolicy;
import io.flatfare.testing.redis.RedisServer;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The stated policies while Redis is stopped or hung, and the return to shared limits once it answers again. */
class RedisOutageTest {

    private static final Duration TIMEOUT = Duration.ofMillis(300);
    /** Far above the timeout, so only a call that waits for something other than the timeout fails the bound. */
    private static final Duration BOUND = TIMEOUT.plusSeconds(2);

    private static RedisServer redis;
    private static Gateways gateways;
    private boolean stopped;
    private boolean suspended;

    @BeforeAll
    static void startRedis() {
        redis = RedisServer.start();
        gateways = new Gateways(redis.url());
    }

    @AfterAll
    static void stop() {
        if (gateways != null) {
            gateways.close();
        }
        if (redis != null) {
            redis.close();
        }
    }

    @AfterEach
    void bringRedisBack() {
        if (suspended) {
            redis.resume();
            suspended = false;
        }
        if (stopped) {
            redis.restart();
            stopped = false;
        }
    }

    private static Gateway gateway(UnavailablePolicy policy) {
        return gateways.start(Settings.shared().withPolicy(policy).withTimeout(TIMEOUT));
    }

    @Test
    void localPolicyEnforcesRateAndConcurrencyPerReplicaButNotTheQuotaWhileRedisIsDown() throws Exception {
        Gateway first = gateway(UnavailablePolicy.LOCAL);
        Gateway second = gateway(UnavailablePolicy.LOCAL);
        Caller caller = caller(3, 2, 1L);
        stopRedis();

        Admission x = first.admit(caller);
        Admission y = first.admit(caller);
        assertThat(kindOf(() -> first.admit(caller))).isEqualTo(Kind.CONCURRENCY);
        x.release(true);
        x.release(true);
        Admission z = first.admit(caller); // over the monthly quota of 1: not enforced without Redis
        y.release(true);
        z.release(false);
        LimitExceededException rate = SharedLimitsTest.refusal(() -> first.admit(caller));
        assertThat(rate.kind()).isEqualTo(Kind.RATE);
        assertThat(rate.retryAfter()).isPositive().isLessThanOrEqualTo(Duration.ofSeconds(20));
        assertThat(rate.rate().orElseThrow().remaining()).isZero();
        // Each replica enforces the plan on its own.
        assertThat(second.admit(caller).rate().orElseThrow().remaining()).isEqualTo(2);

        Caller burst = caller(null, 5, null);
        List<Object> results = atOnce(20, i -> second.admit(burst));
        assertThat(admitted(results)).hasSize(5);
        assertThat(refused(results))
                .hasSize(15)
                .allSatisfy(e -> assertThat(e.kind()).isEqualTo(Kind.CONCURRENCY));
        assertThat(first.fallbacks()).isEqualTo(5);
        assertThat(second.fallbacks()).isEqualTo(21);
    }

    @Test
    void sharedLimitsResumeWhenRedisIsBack() {
        Gateway first = gateway(UnavailablePolicy.LOCAL);
        Gateway second = gateway(UnavailablePolicy.LOCAL);
        stopRedis();
        Caller during = caller(null, 1, null);
        first.admit(during);
        second.admit(during); // a slot on each replica: the limit is per replica meanwhile

        redis.restart();
        stopped = false;

        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            Caller fresh = caller(null, 1, null);
            Admission held = first.admit(fresh);
            try {
                assertThat(kindOf(() -> second.admit(fresh))).isEqualTo(Kind.CONCURRENCY);
            } finally {
                held.release(true);
            }
        });
        double fallbacks = first.fallbacks() + second.fallbacks();
        Caller quota = caller(null, null, 2L);
        first.admit(quota).release(true);
        second.admit(quota).release(true);
        assertThat(kindOf(() -> first.admit(quota))).isEqualTo(Kind.QUOTA);
        assertThat(first.fallbacks() + second.fallbacks()).isEqualTo(fallbacks);
    }

    @Test
    void rejectPolicyRefusesAtOnceWhileRedisIsDown() {
        Gateway gateway = gateway(UnavailablePolicy.REJECT);
        Caller caller = caller(10, null, null);
        stopRedis();

        long start = System.nanoTime();
        LimitsUnavailableException refusal =
                catchThrowableOfType(LimitsUnavailableException.class, () -> gateway.admit(caller));

        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(BOUND);
        assertThat(refusal).isNotNull();
        assertThat(refusal.retryAfter()).isEqualTo(Duration.ofSeconds(1));
        assertThat(gateway.fallbacks()).isEqualTo(1);
        // A plan without limits needs no Redis.
        assertThat(gateway.admit(caller(null, null, null)).rate()).isEmpty();
    }

    @Test
    void rejectPolicyRefusesWithinTheTimeoutWhileRedisHangs() {
        Gateway gateway = gateway(UnavailablePolicy.REJECT);
        Caller caller = caller(10, 5, 100L);
        gateway.admit(caller).release(true);
        suspendRedis();

        long start = System.nanoTime();
        LimitsUnavailableException refusal =
                catchThrowableOfType(LimitsUnavailableException.class, () -> gateway.admit(caller));
        Duration took = Duration.ofNanos(System.nanoTime() - start);

        assertThat(refusal).isNotNull();
        assertThat(took).isGreaterThanOrEqualTo(TIMEOUT.minusMillis(50)).isLessThan(BOUND);
        // Until the retry interval passes, Redis is not asked again: the next refusal does not wait for the timeout.
        start = System.nanoTime();
        catchThrowableOfType(LimitsUnavailableException.class, () -> gateway.admit(caller));
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(TIMEOUT);
    }

    @Test
    void localPolicyAdmitsWithinTheTimeoutWhileRedisHangs() {
        Gateway gateway = gateway(UnavailablePolicy.LOCAL);
        Caller caller = caller(10, 5, 100L);
        gateway.admit(caller).release(true);
        suspendRedis();

        long start = System.nanoTime();
        Admission admission = gateway.admit(caller);

        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(BOUND);
        assertThat(admission.rate().orElseThrow().remaining()).isEqualTo(9);
        admission.release(true);
        assertThat(gateway.fallbacks()).isEqualTo(1);
    }

    private void stopRedis() {
        redis.stop();
        stopped = true;
    }

    private void suspendRedis() {
        redis.suspend();
        suspended = true;
    }
}
