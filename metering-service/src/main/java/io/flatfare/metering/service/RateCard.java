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
import java.util.function.Function;

/**
 * The rate card as read at the start of a batch: answers "which price, plan and plan version applied at this
 * instant" in memory, so rating a batch costs three queries however many accounts it holds.
 */
final class RateCard {

    /**
     * A key's versions, oldest first, with their start times copied out once: rating reads them twice per
     * event, and a read through a managed entity's enhanced accessors costs far more than an array load.
     */
    private record History<T>(Instant[] effectiveFrom, List<T> versions) {
        static <T> History<T> of(List<T> versions, Function<T, Instant> effectiveFrom) {
            return new History<>(versions.stream().map(effectiveFrom).toArray(Instant[]::new), versions);
        }

        /** The version in force at {@code at}: the latest that took effect at or before it. */
        Optional<T> at(Instant at) {
            int found = -1;
            for (int i = 0; i < effectiveFrom.length && !effectiveFrom[i].isAfter(at); i++) {
                found = i;
            }
            return found < 0 ? Optional.empty() : Optional.of(versions.get(found));
        }
    }

    private final Map<String, History<TierPrice>> tierPrices;
    private final Map<String, History<PlanVersion>> plans;
    private final Map<String, History<PlanAssignment>> assignments;
    private final String defaultPlan;

    /** Each list must be ordered oldest first within its key. */
    RateCard(
            List<TierPrice> tierPrices, List<PlanVersion> plans, List<PlanAssignment> assignments, String defaultPlan) {
        this.tierPrices = index(tierPrices, p -> p.tier, p -> p.effectiveFrom);
        this.plans = index(plans, p -> p.planId, p -> p.effectiveFrom);
        this.assignments = index(assignments, a -> a.accountId, a -> a.effectiveFrom);
        this.defaultPlan = defaultPlan;
    }

    Optional<TierPrice> priceAt(String tier, Instant at) {
        return inForce(tierPrices.get(tier), at);
    }

    /** The account's plan id at {@code at}: its latest assignment by then, else the default plan. */
    String planIdAt(String accountId, Instant at) {
        return inForce(assignments.get(accountId), at).map(a -> a.planId).orElse(defaultPlan);
    }

    /** The version of the plan in force at {@code at}; empty when the plan had none yet. */
    Optional<PlanVersion> planAt(String planId, Instant at) {
        return inForce(plans.get(planId), at);
    }

    /** Whether the account's plan at {@code at} includes requests, so that rating needs the month's count. */
    boolean includesRequests(String accountId, Instant at) {
        return planAt(planIdAt(accountId, at), at)
                .map(p -> p.includedRequests > 0)
                .orElse(false);
    }

    private static <T> Optional<T> inForce(History<T> history, Instant at) {
        return history == null ? Optional.empty() : history.at(at);
    }

    private static <T> Map<String, History<T>> index(
            List<T> versions, Function<T, String> key, Function<T, Instant> effectiveFrom) {
        Map<String, List<T>> byKey = new HashMap<>();
        versions.forEach(
                v -> byKey.computeIfAbsent(key.apply(v), k -> new ArrayList<>()).add(v));
        Map<String, History<T>> histories = new HashMap<>();
        byKey.forEach((k, list) -> histories.put(k, History.of(list, effectiveFrom)));
        return histories;
    }
}
