package io.flatfare.metering.api;

import io.flatfare.metering.domain.PlanAssignment;
import io.flatfare.metering.domain.PlanVersion;
import io.flatfare.metering.domain.TierPrice;
import jakarta.validation.constraints.NotNull;
import java.time.Instant;

/** Request and response bodies of the rate card admin API (snake_case on the wire). */
final class RateCardViews {

    private RateCardViews() {}

    record TierPriceRequest(
            @NotNull Long priceMicros, @NotNull String currency, Instant effectiveFrom) {}

    record TierPriceView(
            String tier, int version, Instant effectiveFrom, long priceMicros, String currency, Instant createdAt) {
        static TierPriceView of(TierPrice p) {
            return new TierPriceView(p.tier, p.version, p.effectiveFrom, p.priceMicros, p.currency, p.createdAt);
        }
    }

    record PlanRequest(
            @NotNull Long monthlyFeeMicros,
            @NotNull Long includedRequests,
            Long overagePriceMicros,
            @NotNull String currency,
            Instant effectiveFrom) {}

    record PlanView(
            String planId,
            int version,
            Instant effectiveFrom,
            long monthlyFeeMicros,
            long includedRequests,
            Long overagePriceMicros,
            String currency,
            Instant createdAt) {
        static PlanView of(PlanVersion p) {
            return new PlanView(
                    p.planId,
                    p.version,
                    p.effectiveFrom,
                    p.monthlyFeeMicros,
                    p.includedRequests,
                    p.overagePriceMicros,
                    p.currency,
                    p.createdAt);
        }
    }

    record AssignmentRequest(@NotNull String planId, Instant effectiveFrom) {}

    record AssignmentView(String accountId, String planId, Instant effectiveFrom, Instant createdAt) {
        static AssignmentView of(PlanAssignment a) {
            return new AssignmentView(a.accountId, a.planId, a.effectiveFrom, a.createdAt);
        }
    }
}
