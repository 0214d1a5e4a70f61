package io.flatfare.gateway.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.gateway.account.ApiKeys;
import io.flatfare.gateway.account.Caller;
import io.flatfare.gateway.account.Plan;
import io.flatfare.gateway.limits.Admission;
import io.flatfare.gateway.limits.RateLimitStatus;
import io.flatfare.gateway.limits.RequestLimiter;
import io.flatfare.gateway.service.CallLifecycle;
import io.flatfare.gateway.service.GatewayMetrics;
import io.flatfare.gateway.service.V1Call;
import io.flatfare.gateway.usage.UsageRecorder;
import io.flatfare.gateway.usage.UsageUnavailableException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.helpers.test.UniAssertSubscriber;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * {@link V1Guard#admitting}: the limiter's answer arrives after a Redis round trip, and the client may leave in
 * between. Whatever the order, an admission must end up released exactly when its call ends, never left to the lease.
 * The limiter is a test double answering when the test says so; the call's lifecycle is the real one.
 */
class V1GuardAdmissionTest {

    /** An admission that records its releases (true/false: billable or not) and withdrawals. */
    static final class RecordedAdmission implements Admission {
        final List<Boolean> releases = new ArrayList<>();
        int withdrawals;

        @Override
        public Optional<RateLimitStatus> rate() {
            return Optional.empty();
        }

        @Override
        public synchronized void release(boolean billable) {
            releases.add(billable);
        }

        @Override
        public synchronized void withdraw() {
            withdrawals++;
        }
    }

    static final String KEY = "sk-test";
    static final Caller CALLER =
            new Caller("acct", "key", new Plan("p", Set.of(Plan.ALL_MODELS), Set.of(), 10, null, 1L, null, null));

    final CompletableFuture<Admission> answer = new CompletableFuture<>();
    final AtomicInteger asked = new AtomicInteger();
    final RequestLimiter limiter = (caller, requestId) -> {
        asked.incrementAndGet();
        return Uni.createFrom().completionStage(answer);
    };
    /** Knows {@link #KEY}; any other key is unknown. */
    final ApiKeys keys = presented -> KEY.equals(presented) ? Optional.of(CALLER) : Optional.empty();

    final List<UsageEvent> events = new ArrayList<>();
    boolean usageAccepting = true;
    final UsageRecorder usage = new UsageRecorder() {
        @Override
        public void record(UsageEvent event, Map<String, String> headers) {
            events.add(event);
        }

        @Override
        public boolean accepting() {
            return usageAccepting;
        }

        @Override
        public long backlog() {
            return 0;
        }
    };
    final CallLifecycle lifecycle = new CallLifecycle(usage, new GatewayMetrics(new SimpleMeterRegistry()));
    final V1Guard guard = new V1Guard(keys, null, limiter, lifecycle, null, new WarmUpKey(), usage);
    final V1Call call = new V1Call("req_test", "req_test", Instant.now(), System.nanoTime(), Map.of());

    @Test
    void anAdmissionIsKeptByTheCallAndReleasedWhenItEnds() {
        var waiting = guard.admitting(call).subscribe().withSubscriber(UniAssertSubscriber.create());
        var admission = new RecordedAdmission();

        answer.complete(admission);

        waiting.assertCompleted();
        assertThat(call.admission()).isSameAs(admission);
        assertThat(admission.releases).isEmpty();
        lifecycle.finish(call, Outcome.COMPLETED, 200, false);
        assertThat(admission.releases).containsExactly(true);
    }

    @Test
    void anAdmissionArrivingAfterTheClientLeftIsReleasedAtOnceAndNotBilled() {
        var waiting = guard.admitting(call).subscribe().withSubscriber(UniAssertSubscriber.create());
        waiting.cancel();
        lifecycle.finish(call, Outcome.CLIENT_CANCELLED, 499, false);
        var admission = new RecordedAdmission();

        answer.complete(admission);

        assertThat(admission.releases).containsExactly(false);
        assertThat(waiting.getItem()).isNull();
    }

    @Test
    void anAdmissionArrivingAfterTheWaitWasCancelledButBeforeTheCallEndedIsReleasedByTheEnd() {
        var waiting = guard.admitting(call).subscribe().withSubscriber(UniAssertSubscriber.create());
        waiting.cancel();
        var admission = new RecordedAdmission();

        answer.complete(admission);
        assertThat(admission.releases).isEmpty();
        lifecycle.finish(call, Outcome.CLIENT_CANCELLED, 499, false);

        assertThat(admission.releases).containsExactly(false);
    }

    @Test
    void anEarlyAdmissionIsTheOneTheCheckedCallWaitsForAndIsReleasedWhenItEnds() {
        guard.admitEarly(call, "Bearer " + KEY);
        assertThat(asked).hasValue(1);
        assertThat(call.caller()).isEqualTo(CALLER);

        var waiting = guard.admitting(call).subscribe().withSubscriber(UniAssertSubscriber.create());
        waiting.assertNotTerminated();
        var admission = new RecordedAdmission();
        answer.complete(admission);

        waiting.assertCompleted();
        assertThat(asked).hasValue(1);
        assertThat(call.admission()).isSameAs(admission);
        lifecycle.finish(call, Outcome.COMPLETED, 200, false);
        assertThat(admission.releases).containsExactly(true);
        assertThat(admission.withdrawals).isZero();
    }

    @Test
    void anEarlyAdmissionOfACallThatFailsItsChecksIsWithdrawnWhicheverComesFirst() {
        // The call ends as V1Guard#fail ends a call whose checks failed: rejected, before inference.
        guard.admitEarly(call, "Bearer " + KEY);
        var before = new RecordedAdmission();
        answer.complete(before);
        lifecycle.finish(call, Outcome.REJECTED, 400, false);
        assertThat(before.withdrawals).isEqualTo(1);
        assertThat(before.releases).isEmpty();

        var late = new CompletableFuture<Admission>();
        var lateGuard = new V1Guard(
                keys, null, (c, id) -> Uni.createFrom().completionStage(late), lifecycle, null, new WarmUpKey(), usage);
        var lateCall = new V1Call("req_late", "req_late", Instant.now(), System.nanoTime(), Map.of());
        lateGuard.admitEarly(lateCall, "Bearer " + KEY);
        lifecycle.finish(lateCall, Outcome.REJECTED, 400, false);
        var after = new RecordedAdmission();
        late.complete(after);
        assertThat(after.withdrawals).isEqualTo(1);
        assertThat(after.releases).isEmpty();
    }

    @Test
    void anEarlyRefusalIsTheAnswerOnlyOnceTheChecksPass() {
        guard.admitEarly(call, "Bearer " + KEY);
        answer.completeExceptionally(new IllegalStateException("refused"));

        var waiting = guard.admitting(call).subscribe().withSubscriber(UniAssertSubscriber.create());

        waiting.assertFailedWith(IllegalStateException.class, "refused");
        assertThat(asked).hasValue(1);
    }

    @Test
    void aRequestWhoseUsageCannotBeKeptIsRefusedBeforeTheLimitsAndRecordsNothing() {
        guard.admitEarly(call, "Bearer " + KEY);
        var early = new RecordedAdmission();
        answer.complete(early);
        usageAccepting = false;

        assertThatThrownBy(() -> guard.admitting(call)).isInstanceOf(UsageUnavailableException.class);
        assertThat(Failures.toOpenAi(new UsageUnavailableException(), Duration.ofSeconds(2)))
                .satisfies(error -> {
                    assertThat(error.status()).isEqualTo(503);
                    assertThat(error.type()).isEqualTo("server_error");
                    assertThat(error.code()).isEqualTo("usage_unavailable");
                    assertThat(error.getMessage())
                            .isEqualTo("Usage cannot be recorded right now; please retry shortly.");
                    assertThat(error.headers()).containsEntry("retry-after", "2");
                });
        lifecycle.finish(call, Outcome.FAILED, 503, false);

        assertThat(call.checked()).isFalse();
        assertThat(early.withdrawals).isEqualTo(1);
        assertThat(early.releases).isEmpty();
        assertThat(events).isEmpty();

        usageAccepting = true;
        var next = new V1Call("req_next", "req_next", Instant.now(), System.nanoTime(), Map.of());
        next.caller(CALLER);
        guard.admitting(next)
                .subscribe()
                .withSubscriber(UniAssertSubscriber.create())
                .assertCompleted();
        assertThat(next.checked()).isTrue();
    }

    @Test
    void withoutAKnownKeyNothingIsAskedEarlyAndTheChecksDecide() {
        guard.admitEarly(call, "Bearer sk-unknown");
        guard.admitEarly(call, null);
        guard.admitEarly(call, "Basic " + KEY);

        assertThat(asked).hasValue(0);
        assertThat(call.earlyAdmission()).isNull();
        assertThat(call.caller()).isNull();
    }
}
