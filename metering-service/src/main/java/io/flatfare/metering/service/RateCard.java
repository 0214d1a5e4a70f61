package io.flatfare.metering.service;

import io.flatfare.metering.domain.PlanAssignment;
import io.flatfare.metering.domain.PlanVersion;
import io.flatfare.metering.domain.TierPrice;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The rate card as read at the start of a batch: answers "which price, plan and plan version applied at this
 * instant" in memory, so rating a batch costs three queries however many accounts it holds.
 */
final class RateCard {

    private final Map<String, List<TierPrice>> tierPrices = new HashMap<>();
    private final Map<String, List<PlanVersion>> plans = new HashMap<>();
    private final Map<String, List<PlanAssignment>> assignments = new HashMap<>();
    private final String defaultPlan;

    /** Each list must be ordered oldest first within its key. */
    RateCard(
            List<TierPrice> tierPrices, List<PlanVersion> plans, List<PlanAssignment> assignments, String defaultPlan) {
        tierPrices.forEach(p ->
                this.tierPrices.computeIfAbsent(p.tier, k -> new ArrayList<>()).add(p));
        plans.forEach(p ->
                this.plans.computeIfAbsent(p.planId, k -> new ArrayList<>()).add(p));
        assignments.forEach(a -> this.assignments
                .computeIfAbsent(a.accountId, k -> new ArrayList<>())
                .add(a));
        this.defaultPlan = defaultPlan;
    }

    Optional<TierPrice> priceAt(String tier, Instant at) {
        return inForce(tierPrices.get(tier), at, p -> p.effectiveFrom);
    }

    /** The account's plan id at {@code at}: its latest assignment by then, else the default plan. */
    String planIdAt(String accountId, Instant at) {
        return inForce(assignments.get(accountId), at, a -> a.effectiveFrom)
                .map(a -> a.planId)
                .orElse(defaultPlan);
    }

    /** The version of the plan in force at {@code at}; empty when the plan had none yet. */
    Optional<PlanVersion> planAt(String planId, Instant at) {
        return inForce(plans.get(planId), at, p -> p.effectiveFrom);
    }

    private static <T> Optional<T> inForce(
            List<T> history, Instant at, java.util.function.Function<T, Instant> effectiveFrom) {
        if (history == null) {
            return Optional.empty();
        }
        T found = null;
        for (T version : history) {
            if (effectiveFrom.apply(version).isAfter(at)) {
                break;
            }
            found = version;
        }
        return Optional.ofNullable(found);
    }
}
