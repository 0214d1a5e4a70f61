package io.flatfare.gateway.limits;

import static org.assertj.core.api.Assertions.assertThat;

import io.flatfare.gateway.account.Plan;
import io.flatfare.gateway.limits.LimitExceededException.Kind;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The per-replica fallback, on a clock the test moves. */
class LocalLimitsTest {

    private final AtomicLong micros = new AtomicLong(TimeUnit.DAYS.toMicros(3));
    private final LocalLimits limits = new LocalLimits(micros::get, Duration.ofSeconds(2));

    @Test
    void rateAllowsTheWholeMinuteAtOnceThenOneRequestPerInterval() {
        Plan plan = plan(60, null);
        for (int i = 59; i >= 0; i--) {
            Verdict verdict = limits.admit("a", plan);
            assertThat(verdict.admitted()).isTrue();
            assertThat(verdict.rate().remaining()).isEqualTo(i);
        }
        assertThat(limits.admit("a", plan).rate().reset()).isEqualTo(Duration.ofMinutes(1));

        Verdict refused = limits.admit("a", plan);
        assertThat(refused.refused()).isEqualTo(Kind.RATE);
        assertThat(refused.retryAfter()).isEqualTo(Duration.ofSeconds(1));

        advance(Duration.ofMillis(999));
        assertThat(limits.admit("a", plan).refused()).isEqualTo(Kind.RATE);
        advance(Duration.ofMillis(1));
        assertThat(limits.admit("a", plan).admitted()).isTrue();
        assertThat(limits.admit("a", plan).refused()).isEqualTo(Kind.RATE);

        advance(Duration.ofMinutes(1));
        assertThat(limits.admit("a", plan).rate().remaining()).isEqualTo(59);
    }

    @Test
    void concurrencyCountsReleasesAndAccountsAreSeparate() {
        Plan plan = plan(null, 2);
        assertThat(limits.admit("a", plan).admitted()).isTrue();
        assertThat(limits.admit("a", plan).admitted()).isTrue();
        Verdict refused = limits.admit("a", plan);
        assertThat(refused.refused()).isEqualTo(Kind.CONCURRENCY);
        assertThat(refused.retryAfter()).isEqualTo(Duration.ofSeconds(2));
        assertThat(refused.rate()).isNull();
        assertThat(limits.admit("b", plan).admitted()).isTrue();

        limits.release("a");
        assertThat(limits.admit("a", plan).admitted()).isTrue();
        assertThat(limits.admit("a", plan).refused()).isEqualTo(Kind.CONCURRENCY);
    }

    @Test
    void aWithdrawnAdmissionGivesItsSlotAndItsPlaceInTheRateBack() {
        Plan plan = plan(2, 1);
        assertThat(limits.admit("a", plan).rate().remaining()).isEqualTo(1);
        assertThat(limits.admit("a", plan).refused()).isEqualTo(Kind.CONCURRENCY);

        limits.withdraw("a", plan);

        assertThat(limits.admit("a", plan).rate().remaining()).isEqualTo(1);
        limits.release("a");
        assertThat(limits.admit("a", plan).rate().remaining()).isZero();
        limits.release("a");
        assertThat(limits.admit("a", plan).refused()).isEqualTo(Kind.RATE);
    }

    @Test
    void idleAccountsAreForgotten() {
        Plan plan = plan(10, 1);
        limits.admit("a", plan);
        limits.admit("b", plan);
        limits.release("b");
        assertThat(limits.accountsTracked()).isEqualTo(2);

        advance(Duration.ofMinutes(2));
        limits.admit("c", plan(null, null));
        limits.release("c");

        // "a" still has a request in flight; "b" is idle with its bucket full again; "c" ended.
        assertThat(limits.accountsTracked()).isEqualTo(1);
        assertThat(limits.admit("a", plan).refused()).isEqualTo(Kind.CONCURRENCY);
    }

    private void advance(Duration duration) {
        micros.addAndGet(TimeUnit.NANOSECONDS.toMicros(duration.toNanos()));
    }

    private static Plan plan(Integer requestsPerMinute, Integer concurrentRequests) {
        return new Plan(
                "local", Set.of(Plan.ALL_MODELS), Set.of(), requestsPerMinute, concurrentRequests, 5L, null, null);
    }
}
