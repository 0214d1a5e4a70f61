package io.flatfare.gateway.limits;

import io.flatfare.gateway.account.Plan;
import io.flatfare.gateway.limits.LimitExceededException.Kind;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * The fallback while Redis is unreachable: a plan's rate and concurrency limits enforced by this replica alone, in
 * memory, with the same rules as the shared script (GCRA for the rate). Each replica allows the full plan limits, so
 * the account as a whole may get up to the replica count times its limits meanwhile; the monthly quota is not
 * enforced.
 */
final class LocalLimits {

    private static final long MINUTE_MICROS = TimeUnit.MINUTES.toMicros(1);

    private final ConcurrentMap<String, AccountState> accounts = new ConcurrentHashMap<>();
    private final AtomicLong nextSweep = new AtomicLong();
    private final LongSupplier micros;
    private final Duration concurrencyRetryAfter;

    LocalLimits(Duration concurrencyRetryAfter) {
        this(() -> TimeUnit.NANOSECONDS.toMicros(System.nanoTime()), concurrencyRetryAfter);
    }

    LocalLimits(LongSupplier micros, Duration concurrencyRetryAfter) {
        this.micros = micros;
        this.concurrencyRetryAfter = concurrencyRetryAfter;
        nextSweep.set(micros.getAsLong() + MINUTE_MICROS);
    }

    /** Checks and consumes the plan's rate and concurrency limits for one request of the account. */
    Verdict admit(String accountId, Plan plan) {
        long now = micros.getAsLong();
        sweepIdle(now);
        Verdict[] verdict = new Verdict[1];
        accounts.compute(accountId, (id, state) -> {
            AccountState current = state == null ? new AccountState(now) : state;
            verdict[0] = current.admit(plan, now, concurrencyRetryAfter);
            return current.idle(now) ? null : current;
        });
        return verdict[0];
    }

    /** Frees one concurrency slot of the account. */
    void release(String accountId) {
        accounts.computeIfPresent(accountId, (id, state) -> {
            state.inFlight = Math.max(0, state.inFlight - 1);
            return state.idle(micros.getAsLong()) ? null : state;
        });
    }

    /**
     * Takes one admission of the account back, as if the request had never been admitted: frees its slot and gives
     * its place in the rate back.
     */
    void withdraw(String accountId, Plan plan) {
        accounts.computeIfPresent(accountId, (id, state) -> {
            state.inFlight = Math.max(0, state.inFlight - 1);
            Integer rateLimit = plan.requestsPerMinute();
            long now = micros.getAsLong();
            if (rateLimit != null && rateLimit >= 1) {
                state.tat = Math.max(now, state.tat - Math.ceilDiv(MINUTE_MICROS, rateLimit));
            }
            return state.idle(now) ? null : state;
        });
    }

    /** Accounts this replica holds state for (for tests: state does not grow without bound). */
    int accountsTracked() {
        return accounts.size();
    }

    /** Drops the state of accounts with nothing in flight and a full bucket, at most once a minute. */
    private void sweepIdle(long now) {
        long due = nextSweep.get();
        if (now < due || !nextSweep.compareAndSet(due, now + MINUTE_MICROS)) {
            return;
        }
        for (String accountId : accounts.keySet()) {
            accounts.computeIfPresent(accountId, (id, state) -> state.idle(now) ? null : state);
        }
    }

    /** Guarded by the map's per-key locking ({@code compute}). */
    private static final class AccountState {

        /** GCRA theoretical arrival time, in microseconds of this JVM's monotonic clock. */
        long tat;

        int inFlight;

        AccountState(long now) {
            tat = now;
        }

        Verdict admit(Plan plan, long now, Duration concurrencyRetryAfter) {
            Integer rateLimit = plan.requestsPerMinute();
            long interval = 0;
            long arrival = Math.max(tat, now);
            boolean rateRefused = false;
            long rateRetry = 0;
            if (rateLimit != null) {
                if (rateLimit < 1) {
                    rateRefused = true;
                    rateRetry = MINUTE_MICROS;
                } else {
                    interval = Math.ceilDiv(MINUTE_MICROS, rateLimit);
                    long allowAt = arrival + interval - rateLimit * interval;
                    if (now < allowAt) {
                        rateRefused = true;
                        rateRetry = allowAt - now;
                    }
                }
            }
            Integer concurrencyLimit = plan.concurrentRequests();
            boolean concurrencyRefused = concurrencyLimit != null && inFlight >= concurrencyLimit;

            Kind refused = rateRefused ? Kind.RATE : concurrencyRefused ? Kind.CONCURRENCY : null;
            if (refused == null) {
                if (rateLimit != null) {
                    arrival += interval;
                    tat = arrival;
                }
                inFlight++;
            }
            RateLimitStatus rate = null;
            if (rateLimit != null && rateLimit >= 1) {
                long remaining =
                        Math.clamp(Math.floorDiv(now + rateLimit * interval - arrival, interval), 0, rateLimit);
                rate = new RateLimitStatus(rateLimit, remaining, Duration.ofMillis(Math.ceilDiv(arrival - now, 1000)));
            } else if (rateLimit != null) {
                rate = new RateLimitStatus(rateLimit, 0, Duration.ZERO);
            }
            Duration retryAfter = switch (refused) {
                case null -> Duration.ZERO;
                case RATE -> Duration.ofMillis(Math.ceilDiv(rateRetry, 1000));
                default -> concurrencyRetryAfter;
            };
            return new Verdict(refused, retryAfter, rate, 0);
        }

        boolean idle(long now) {
            return inFlight == 0 && tat <= now;
        }
    }
}
