package io.flatfare.gateway.limits;

import io.flatfare.gateway.account.Caller;

/** Enforces a plan's rate, concurrency and monthly quota limits, shared exactly by every gateway replica. */
public interface RequestLimiter {

    /**
     * Admits one request of the caller or refuses it. Blocking (one round trip to the shared store).
     *
     * @throws LimitExceededException when a limit refuses the request
     * @throws LimitsUnavailableException when the shared store is unreachable and the configured policy is to refuse
     */
    Admission admit(Caller caller, String requestId);
}
