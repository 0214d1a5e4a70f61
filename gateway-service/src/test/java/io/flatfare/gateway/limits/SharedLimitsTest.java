package io.flatfare.gateway.limits;

import static io.flatfare.gateway.limits.Gateways.admitted;
import static io.flatfare.gateway.limits.Gateways.atOnce;
import static io.flatfare.gateway.limits.Gateways.caller;
import static io.flatfare.gateway.limits.Gateways.refused;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

import io.flatfare.gateway.account.Caller;
import io.flatfare.gateway.limits.Gateways.Gateway;
import io.flatfare.gateway.limits.Gateways.Settings;
import io.flatfare.gateway.limits.LimitExceededException.Kind;
import io.flatfare.testing.redis.RedisServer;
import io.vertx.mutiny.core.Vertx;
import io.vertx.mutiny.redis.client.Command;
import io.vertx.mutiny.redis.client.Redis;
import io.vertx.mutiny.redis.client.Request;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Rate, concurrency and quota shared exactly by two gateway replicas through a real Redis. */
class SharedLimitsTest {

    private static RedisServer redis;
    private static Gateways gateways;
    private static Gateway first;
    private static Gateway second;

    @BeforeAll
    static void startTwoGateways() {
        redis = RedisServer.start();
        gateways = new Gateways(redis.url());
        first = gateways.start(Settings.shared());
        second = gateways.start(Settings.shared());
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

    /** Half the calls go to each replica. */
    private static Gateway replica(int index) {
        return index % 2 == 0 ? first : second;
    }

    @Test
    void tenLeftOfTheMonthlyQuotaAndFiftyAtOnceAdmitsExactlyTen() throws Exception {
        Caller caller = caller(null, null, 30L);
        for (int i = 0; i < 20; i++) {
            replica(i).admit(caller).release(true);
        }
        double rejectionsBefore = first.rejections(Kind.QUOTA) + second.rejections(Kind.QUOTA);

        List<Object> results = atOnce(50, i -> replica(i).admit(caller));

        assertThat(admitted(results)).hasSize(10);
        assertThat(refused(results))
                .hasSize(40)
                .allSatisfy(e -> assertThat(e.kind()).isEqualTo(Kind.QUOTA));
        assertThat(first.rejections(Kind.QUOTA) + second.rejections(Kind.QUOTA) - rejectionsBefore)
                .isEqualTo(40);
        assertThat(first.fallbacks() + second.fallbacks()).isZero();
    }

    @Test
    void rateOfTenPerMinuteAndFiftyAtOnceAdmitsExactlyTenEachSeeingItsOwnRemainder() throws Exception {
        Caller caller = caller(10, null, null);

        List<Object> results = atOnce(50, i -> replica(i).admit(caller));

        List<Admission> admitted = admitted(results);
        assertThat(admitted).hasSize(10);
        assertThat(admitted.stream().map(a -> a.rate().orElseThrow().remaining()))
                .containsExactlyInAnyOrderElementsOf(
                        IntStream.range(0, 10).mapToObj(Long::valueOf).toList());
        assertThat(refused(results)).hasSize(40).allSatisfy(e -> {
            assertThat(e.kind()).isEqualTo(Kind.RATE);
            // One request is refilled every 6 s.
            assertThat(e.retryAfter()).isPositive().isLessThanOrEqualTo(Duration.ofSeconds(6));
            RateLimitStatus status = e.rate().orElseThrow();
            assertThat(status.limit()).isEqualTo(10);
            assertThat(status.remaining()).isZero();
            assertThat(status.reset()).isGreaterThan(Duration.ofSeconds(50)).isLessThanOrEqualTo(Duration.ofMinutes(1));
        });
        assertThat(first.fallbacks() + second.fallbacks()).isZero();
    }

    @Test
    void tenConcurrentAndFiftyAtOnceAdmitsExactlyTenUntilOneIsReleased() throws Exception {
        Caller caller = caller(null, 10, null);

        List<Object> results = atOnce(50, i -> replica(i).admit(caller));

        List<Admission> admitted = admitted(results);
        assertThat(admitted).hasSize(10);
        assertThat(refused(results)).hasSize(40).allSatisfy(e -> {
            assertThat(e.kind()).isEqualTo(Kind.CONCURRENCY);
            assertThat(e.retryAfter()).isEqualTo(Duration.ofSeconds(1));
            assertThat(e.rate()).isEmpty();
        });

        admitted.getFirst().release(true);
        admitted.getFirst().release(true); // a second release frees nothing more
        Admission next = second.admit(caller);
        assertThat(kindOf(() -> first.admit(caller))).isEqualTo(Kind.CONCURRENCY);

        next.release(true);
        first.admit(caller);
        assertThat(first.fallbacks() + second.fallbacks()).isZero();
    }

    @Test
    void aRequestReleasedAsNotBillableGoesBackToTheQuotaOnce() {
        Caller caller = caller(null, null, 2L);
        Admission unbilled = first.admit(caller);
        Admission billed = second.admit(caller);
        assertThat(kindOf(() -> first.admit(caller))).isEqualTo(Kind.QUOTA);

        unbilled.release(false);
        unbilled.release(false);
        Admission another = second.admit(caller);
        assertThat(kindOf(() -> first.admit(caller))).isEqualTo(Kind.QUOTA);

        billed.release(true);
        another.release(true);
        assertThat(kindOf(() -> second.admit(caller))).isEqualTo(Kind.QUOTA);
    }

    @Test
    void quotaRefusalSaysRetryAtTheStartOfNextMonth() {
        Caller caller = caller(100, null, 1L);
        first.admit(caller).release(true);

        Instant before = Instant.now();
        LimitExceededException refusal = refusal(() -> second.admit(caller));

        assertThat(refusal.kind()).isEqualTo(Kind.QUOTA);
        assertThat(refusal.getMessage()).contains("monthly quota of 1 requests");
        Instant nextMonth = YearMonth.now(ZoneOffset.UTC)
                .plusMonths(1)
                .atDay(1)
                .atStartOfDay()
                .toInstant(ZoneOffset.UTC);
        assertThat(refusal.retryAfter().toMillis())
                .isCloseTo(Duration.between(before, nextMonth).toMillis(), within(5_000L));
        // A refused request consumes nothing: the rate bucket still shows only the admitted request.
        assertThat(refusal.rate().orElseThrow().remaining()).isEqualTo(99);
    }

    @Test
    void rateHeadersCountDownAndTheRefusalSaysWhenTheNextRequestFits() {
        Caller caller = caller(2, null, null);
        double rejectionsBefore = first.rejections(Kind.RATE);

        RateLimitStatus afterFirst = first.admit(caller).rate().orElseThrow();
        RateLimitStatus afterSecond = second.admit(caller).rate().orElseThrow();
        LimitExceededException refusal = refusal(() -> first.admit(caller));

        assertThat(afterFirst.limit()).isEqualTo(2);
        assertThat(afterFirst.remaining()).isEqualTo(1);
        assertThat(afterFirst.reset()).isBetween(Duration.ofSeconds(25), Duration.ofSeconds(30));
        assertThat(afterSecond.remaining()).isZero();
        assertThat(afterSecond.reset()).isBetween(Duration.ofSeconds(55), Duration.ofSeconds(60));
        assertThat(refusal.kind()).isEqualTo(Kind.RATE);
        assertThat(refusal.retryAfter()).isBetween(Duration.ofSeconds(25), Duration.ofSeconds(30));
        assertThat(refusal.getMessage()).contains("2 per minute");
        assertThat(first.rejections(Kind.RATE) - rejectionsBefore).isEqualTo(1);
    }

    @Test
    void aRefusalConsumesNoOtherLimit() {
        Caller caller = caller(5, 1, 3L);
        Admission held = first.admit(caller);
        for (int i = 0; i < 3; i++) {
            assertThat(kindOf(() -> second.admit(caller))).isEqualTo(Kind.CONCURRENCY);
        }
        held.release(true);

        Admission next = second.admit(caller);

        // Two admitted requests used the rate and the quota; the three refusals used neither.
        assertThat(next.rate().orElseThrow().remaining()).isEqualTo(3);
        next.release(true);
        first.admit(caller).release(true);
        assertThat(kindOf(() -> second.admit(caller))).isEqualTo(Kind.QUOTA);
    }

    @Test
    void aWithdrawnAdmissionLeavesEveryLimitAsIfItHadNeverBeenAdmitted() {
        Caller caller = caller(2, 1, 2L);
        Admission withdrawn = first.admit(caller);
        assertThat(kindOf(() -> second.admit(caller))).isEqualTo(Kind.CONCURRENCY);

        withdrawn.withdraw();
        withdrawn.withdraw();
        withdrawn.release(false);

        // Sent without waiting, on the other replica's connection: the slot comes back moments later.
        Admission next = await().until(() -> admittedOrNull(second, caller), admission -> admission != null);
        assertThat(next.rate().orElseThrow().remaining()).isEqualTo(1);
        next.release(true);
        Admission last = first.admit(caller);
        assertThat(last.rate().orElseThrow().remaining()).isZero();
        last.release(true);
        LimitExceededException refused = refusal(() -> second.admit(caller));
        assertThat(refused.kind()).isEqualTo(Kind.QUOTA);
    }

    @Test
    void aWithdrawnAdmissionUnderARateAloneGivesItsPlaceBackOnce() {
        Caller caller = caller(1, null, null);
        Admission withdrawn = first.admit(caller);
        assertThat(kindOf(() -> second.admit(caller))).isEqualTo(Kind.RATE);

        withdrawn.withdraw();
        withdrawn.withdraw();

        Admission next = await().until(() -> admittedOrNull(second, caller), admission -> admission != null);
        assertThat(next.rate().orElseThrow().remaining()).isZero();
        assertThat(kindOf(() -> first.admit(caller))).isEqualTo(Kind.RATE);
    }

    private static Admission admittedOrNull(Gateway gateway, Caller caller) {
        try {
            return gateway.admit(caller);
        } catch (LimitExceededException refused) {
            return null;
        }
    }

    @Test
    void theReleaseScriptGivesBackOnceAndOnlyToTheMonthTheRequestWasCountedIn() {
        Vertx vertx = Vertx.vertx();
        try {
            // Two stores, as when a replica's timed-out admission is undone and the request is also released.
            Redis redis = Redis.createClient(vertx, SharedLimitsTest.redis.url());
            RedisLimitStore store =
                    new RedisLimitStore(() -> redis, Duration.ofSeconds(10), Duration.ofMinutes(10), Duration.ZERO);
            Redis otherRedis = Redis.createClient(vertx, SharedLimitsTest.redis.url());
            RedisLimitStore other = new RedisLimitStore(
                    () -> otherRedis, Duration.ofSeconds(10), Duration.ofMinutes(10), Duration.ZERO);
            Caller caller = caller(null, null, 2L);
            String account = caller.accountId();
            Verdict first = store.admit(account, "r1", caller.plan()).await().indefinitely();
            Verdict second = store.admit(account, "r2", caller.plan()).await().indefinitely();
            assertThat(store.admit(account, "r3", caller.plan())
                            .await()
                            .indefinitely()
                            .refused())
                    .isEqualTo(Kind.QUOTA);

            store.release(account, "r1", true, first.month()).await().indefinitely();
            other.release(account, "r1", true, first.month()).await().indefinitely();
            assertThat(store.admit(account, "r4", caller.plan())
                            .await()
                            .indefinitely()
                            .admitted())
                    .isTrue();
            assertThat(store.admit(account, "r5", caller.plan())
                            .await()
                            .indefinitely()
                            .refused())
                    .isEqualTo(Kind.QUOTA);

            other.release(account, "r2", true, second.month() - 1).await().indefinitely();
            assertThat(store.admit(account, "r6", caller.plan())
                            .await()
                            .indefinitely()
                            .refused())
                    .isEqualTo(Kind.QUOTA);
        } finally {
            vertx.closeAndAwait();
        }
    }

    @Test
    void aPlanWithoutLimitsIsAdmittedWithoutRateHeaders() {
        Admission admission = first.admit(caller(null, null, null));
        assertThat(admission.rate()).isEmpty();
        admission.release(false);
    }

    @Test
    void aSlotHeldByACrashedReplicaIsFreedWhenItsLeaseRunsOut() {
        Duration lease = Duration.ofSeconds(2);
        Gateway crashing = gateways.start(Settings.shared().withLease(lease));
        Gateway surviving = gateways.start(Settings.shared().withLease(lease));
        Caller caller = caller(null, 1, null);

        Instant admittedAt = Instant.now();
        crashing.admit(caller); // never released: its replica "crashed"
        assertThat(kindOf(() -> surviving.admit(caller))).isEqualTo(Kind.CONCURRENCY);
        Instant refusedAt = Instant.now();

        await().atMost(Duration.ofSeconds(15))
                .pollInterval(Duration.ofMillis(100))
                .until(() -> {
                    try {
                        surviving.admit(caller);
                        return true;
                    } catch (LimitExceededException e) {
                        return false;
                    }
                });
        assertThat(Duration.between(admittedAt, Instant.now())).isGreaterThanOrEqualTo(lease.minusMillis(50));
        assertThat(Duration.between(admittedAt, refusedAt)).isLessThan(lease);
    }

    @Test
    void scriptsAreSentAgainWhenRedisHasForgottenThem() {
        Caller caller = caller(null, null, 3L);
        first.admit(caller).release(true);
        Vertx vertx = Vertx.vertx();
        try {
            Redis.createClient(vertx, redis.url())
                    .send(Request.cmd(Command.SCRIPT).arg("FLUSH"))
                    .await()
                    .atMost(Duration.ofSeconds(10));
        } finally {
            vertx.closeAndAwait();
        }

        second.admit(caller).release(false);
        first.admit(caller).release(true);
        first.admit(caller).release(true);
        assertThat(kindOf(() -> second.admit(caller))).isEqualTo(Kind.QUOTA);
        assertThat(first.fallbacks() + second.fallbacks()).isZero();
    }

    static Kind kindOf(Runnable admit) {
        return refusal(admit).kind();
    }

    static LimitExceededException refusal(Runnable admit) {
        try {
            admit.run();
        } catch (LimitExceededException e) {
            return e;
        }
        return fail("the request should have been refused");
    }
}
