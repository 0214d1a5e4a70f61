package io.flatfare.gateway.limits;

import io.flatfare.gateway.account.Caller;
import io.smallrye.mutiny.Uni;

/** Enforces a plan's rate, concurrency and monthly quota limits, shared exactly by every gateway replica. */
public interface RequestLimiter {

    /**
     * Admits one request of the caller or refuses it. Blocking (one round trip to the shared store): not on an event
     * loop.
     *
     * @throws LimitExceededException when a limit refuses the request
     * @throws LimitsUnavailableException when the shared store is unreachable and the configured policy is to refuse
     */
    default Admission admit(Caller caller, String requestId) {
        return admitting(caller, requestId).await().indefinitely();
    }

    /**
     * {@link #admit} without blocking: the admission, or a failure with {@link LimitExceededException} or
     * {@link LimitsUnavailableException}. Continues on the caller's Vert.x context when there is one, so a request
     * admitted on an event loop stays on it.
     */
    Uni<Admission> admitting(Caller caller, String requestId);
}
