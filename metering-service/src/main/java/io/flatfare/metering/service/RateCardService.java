package io.flatfare.metering.service;

import io.flatfare.contracts.events.EventIds;
import io.flatfare.metering.config.MeteringConfig;
import io.flatfare.metering.domain.LedgerRepository;
import io.flatfare.metering.domain.LedgerRepository.Dimension;
import io.flatfare.metering.domain.PlanAssignment;
import io.flatfare.metering.domain.PlanAssignmentRepository;
import io.flatfare.metering.domain.PlanRepository;
import io.flatfare.metering.domain.PlanVersion;
import io.flatfare.metering.domain.TierPrice;
import io.flatfare.metering.domain.TierPriceRepository;
import io.flatfare.support.api.Storable;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.transaction.Transactional;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Appends to the rate card. History is never rewritten: a new version must take effect after the current
 * one, and never before a request that the ledger already rated under the version it would supersede.
 */
@ApplicationScoped
public class RateCardService {

    private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9_-]{0,63}");

    private final TierPriceRepository tierPrices;
    private final PlanRepository plans;
    private final PlanAssignmentRepository assignments;
    private final LedgerRepository ledger;
    private final MeteringConfig config;
    private final Clock clock;

    RateCardService(
            TierPriceRepository tierPrices,
            PlanRepository plans,
            PlanAssignmentRepository assignments,
            LedgerRepository ledger,
            MeteringConfig config,
            Clock clock) {
        this.tierPrices = tierPrices;
        this.plans = plans;
        this.assignments = assignments;
        this.ledger = ledger;
        this.config = config;
        this.clock = clock;
    }

    public record NewTierPrice(long priceMicros, String currency, Instant effectiveFrom) {}

    public record NewPlanVersion(
            long monthlyFeeMicros,
            long includedRequests,
            Long overagePriceMicros,
            String currency,
            Instant effectiveFrom) {}

    public List<TierPrice> tierPrices() {
        return tierPrices.all();
    }

    /**
     * Per tier, the price in force now and every price scheduled after it, ordered by tier then effective time: what a
     * gateway needs to show each request's flat price before any compute.
     */
    public List<TierPrice> priceList() {
        Instant now = clock.instant();
        Map<String, List<TierPrice>> byTier = new TreeMap<>();
        for (TierPrice price : tierPrices.all()) {
            byTier.computeIfAbsent(price.tier, t -> new ArrayList<>()).add(price);
        }
        List<TierPrice> list = new ArrayList<>();
        for (List<TierPrice> history : byTier.values()) {
            history.sort(Comparator.comparing((TierPrice p) -> p.effectiveFrom));
            int current = -1;
            for (int i = 0; i < history.size(); i++) {
                if (!history.get(i).effectiveFrom.isAfter(now)) {
                    current = i;
                }
            }
            list.addAll(history.subList(Math.max(current, 0), history.size()));
        }
        return list;
    }

    public List<TierPrice> tierPrices(String tier) {
        List<TierPrice> history = tierPrices.history(tier);
        if (history.isEmpty()) {
            throw MeteringException.notFound("tier", "tier_not_found", "The price tier '" + tier + "' has no price.");
        }
        return history;
    }

    @Transactional
    public TierPrice addTierPrice(String tier, NewTierPrice request) {
        if (!NAME.matcher(tier).matches()) {
            throw MeteringException.invalid(
                    "tier", "A tier is a lower-case name like 'small' (a-z, 0-9, '_', '-'; at most 64).");
        }
        money(request.priceMicros(), "price_micros");
        currency(request.currency());
        Instant from = effectiveFrom(request.effectiveFrom());
        var latest = tierPrices.latest(tier);
        checkAppend(latest.map(l -> l.effectiveFrom), from, Dimension.TIER, tier);
        TierPrice price = new TierPrice();
        price.tier = tier;
        price.version = latest.map(l -> l.version + 1).orElse(1);
        price.effectiveFrom = from;
        price.priceMicros = request.priceMicros();
        price.currency = request.currency();
        price.createdAt = clock.instant();
        tierPrices.persist(price);
        return price;
    }

    public List<PlanVersion> plans() {
        return plans.all();
    }

    public List<PlanVersion> plan(String planId) {
        List<PlanVersion> history = plans.history(planId);
        if (history.isEmpty()) {
            throw MeteringException.notFound("plan_id", "plan_not_found", "The plan '" + planId + "' does not exist.");
        }
        return history;
    }

    @Transactional
    public PlanVersion addPlanVersion(String planId, NewPlanVersion request) {
        checkId("plan_id", "A plan id", planId);
        money(request.monthlyFeeMicros(), "monthly_fee_micros");
        nonNegative(request.includedRequests(), "included_requests");
        if (request.overagePriceMicros() != null) {
            money(request.overagePriceMicros(), "overage_price_micros");
        }
        currency(request.currency());
        Instant from = effectiveFrom(request.effectiveFrom());
        var latest = plans.latest(planId);
        checkAppend(latest.map(l -> l.effectiveFrom), from, Dimension.PLAN, planId);
        PlanVersion plan = new PlanVersion();
        plan.planId = planId;
        plan.version = latest.map(l -> l.version + 1).orElse(1);
        plan.effectiveFrom = from;
        plan.monthlyFeeMicros = request.monthlyFeeMicros();
        plan.includedRequests = request.includedRequests();
        plan.overagePriceMicros = request.overagePriceMicros();
        plan.currency = request.currency();
        plan.createdAt = clock.instant();
        plans.persist(plan);
        return plan;
    }

    public List<PlanAssignment> assignments(String accountId) {
        return assignments.history(accountId);
    }

    @Transactional
    public PlanAssignment assignPlan(String accountId, String planId, Instant effectiveFrom) {
        checkId("account_id", "An account id", accountId);
        if (planId != null) {
            checkId("plan_id", "A plan id", planId);
        }
        if (planId == null || plans.latest(planId).isEmpty()) {
            throw MeteringException.notFound("plan_id", "plan_not_found", "The plan '" + planId + "' does not exist.");
        }
        Instant from = effectiveFrom(effectiveFrom);
        // The account was on some plan (at least the default one) before; requests rated under it stay so.
        checkAppend(assignments.latest(accountId).map(a -> a.effectiveFrom), from, Dimension.ACCOUNT, accountId);
        PlanAssignment assignment = new PlanAssignment();
        assignment.accountId = accountId;
        assignment.effectiveFrom = from;
        assignment.planId = planId;
        assignment.createdAt = clock.instant();
        assignments.persist(assignment);
        return assignment;
    }

    private void checkAppend(Optional<Instant> latest, Instant from, Dimension dimension, String value) {
        if (latest.isPresent() && !from.isAfter(latest.get())) {
            Instant current = latest.get();
            throw MeteringException.conflict(
                    "effective_from",
                    "not_after_current_version",
                    "effective_from must be after the current version's (" + current + "): history is append-only.");
        }
        // Even a first version supersedes something (the default plan, or "no price"), so the check applies.
        if (ledger.ratedSince(dimension, value, from)) {
            throw rewritesHistory(from);
        }
    }

    private static MeteringException rewritesHistory(Instant from) {
        return MeteringException.conflict(
                "effective_from",
                "would_rewrite_history",
                "Requests at or after " + from + " were already rated under the current version; choose a later"
                        + " effective_from.");
    }

    private static void checkId(String param, String what, String value) {
        // Plan ids go into every rated usage record, account ids come in usage events: the events' own rule.
        if (!EventIds.valid(value)) {
            throw MeteringException.invalid(
                    param, what + " is 1 to 255 characters without whitespace or control characters.");
        }
    }

    private Instant effectiveFrom(Instant requested) {
        if (requested != null && !Storable.instant(requested)) {
            throw MeteringException.invalid(
                    "effective_from", "effective_from must be in the years 1 to 9999 (was " + requested + ").");
        }
        return requested == null ? clock.instant() : requested;
    }

    private void currency(String currency) {
        if (!config.currency().equals(currency)) {
            throw MeteringException.invalid(
                    "currency", "This deployment bills in " + config.currency() + "; currency must be that.");
        }
    }

    /**
     * The most a price or a monthly fee can be: 10^12 micro-units, a million units of the currency. Sums of prices
     * (a day's and a month's totals, an invoice) are 64-bit; without a bound two requests at the largest price
     * would overflow them, and a batch holding the second would be refused by the database on every try.
     */
    public static final long MAX_MONEY_MICROS = 1_000_000_000_000L;

    private static void money(long value, String param) {
        if (value < 0 || value > MAX_MONEY_MICROS) {
            throw MeteringException.invalid(
                    param, param + " must be 0 to " + MAX_MONEY_MICROS + " (integer micro-units), was " + value + ".");
        }
    }

    private static void nonNegative(long value, String param) {
        if (value < 0) {
            throw MeteringException.invalid(param, param + " must be >= 0, was " + value + ".");
        }
    }
}
