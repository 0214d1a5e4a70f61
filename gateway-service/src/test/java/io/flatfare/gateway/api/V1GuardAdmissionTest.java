package io.flatfare.gateway.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.gateway.limits.Admission;
import io.flatfare.gateway.limits.RateLimitStatus;
import io.flatfare.gateway.limits.RequestLimiter;
import io.flatfare.gateway.service.CallLifecycle;
import io.flatfare.gateway.service.GatewayMetrics;
import io.flatfare.gateway.service.V1Call;
import io.flatfare.gateway.usage.UsageRecorder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.helpers.test.UniAssertSubscriber;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * {@link V1Guard#admitting}: the limiter's answer arrives after a Redis round trip, and the client may leave in
 * between. Whatever the order, an admission must end up released exactly when its call ends, never left to the lease.
 * The limiter is a test double answering when the test says so; the call's lifecycle is the real one.
 */
class V1GuardAdmissionTest {

    /** An admission that records its releases. */
    static final class RecordedAdmission implements Admission {
        final List<Boolean> releases = new ArrayList<>();

        @Override
        public Optional<RateLimitStatus> rate() {
            return Optional.empty();
        }

        @Override
        public synchronized void release(boolean billable) {
            releases.add(billable);
        }
    }

    final CompletableFuture<Admission> answer = new CompletableFuture<>();
    final RequestLimiter limiter = (caller, requestId) -> Uni.createFrom().completionStage(answer);
    final List<UsageEvent> events = new ArrayList<>();
    final CallLifecycle lifecycle = new CallLifecycle(
            new UsageRecorder() {
                @Override
                public void record(UsageEvent event, Map<String, String> headers) {
                    events.add(event);
                }

                @Override
                public long backlog() {
                    return 0;
                }
            },
            new GatewayMetrics(new SimpleMeterRegistry()));
    final V1Guard guard = new V1Guard(null, null, limiter, lifecycle, null);
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
}
