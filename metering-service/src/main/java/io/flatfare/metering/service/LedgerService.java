package io.flatfare.metering.service;

import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.RatedUsage;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.metering.config.MeteringConfig;
import io.flatfare.metering.domain.LedgerEntry;
import io.flatfare.metering.domain.LedgerRepository;
import io.flatfare.metering.domain.LedgerRepository.Counts;
import io.flatfare.metering.domain.LedgerRepository.Key;
import io.flatfare.metering.domain.OutboxEntry;
import io.flatfare.metering.domain.PlanAssignmentRepository;
import io.flatfare.metering.domain.PlanRepository;
import io.flatfare.metering.domain.PlanVersion;
import io.flatfare.metering.domain.TierPrice;
import io.flatfare.metering.domain.TierPriceRepository;
import io.flatfare.metering.domain.Totals;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.transaction.Transactional;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Rates usage events and writes them to the ledger, the totals and the outbox in one transaction: either a
 * batch is wholly recorded or not at all, which is what lets the consumer commit offsets only afterwards.
 */
@ApplicationScoped
public class LedgerService {

    private final LedgerRepository ledger;
    private final TierPriceRepository tierPrices;
    private final PlanRepository plans;
    private final PlanAssignmentRepository assignments;
    private final MeteringConfig config;
    private final Clock clock;

    LedgerService(
            LedgerRepository ledger,
            TierPriceRepository tierPrices,
            PlanRepository plans,
            PlanAssignmentRepository assignments,
            MeteringConfig config,
            Clock clock) {
        this.ledger = ledger;
        this.tierPrices = tierPrices;
        this.plans = plans;
        this.assignments = assignments;
        this.config = config;
        this.clock = clock;
    }

    @Transactional
    public BatchResult record(List<Intake> batch) {
        Map<String, Intake> fresh = new LinkedHashMap<>();
        batch.forEach(intake -> fresh.putIfAbsent(intake.event().eventId(), intake));
        Set<String> known = ledger.existing(fresh.keySet());
        fresh.keySet().removeAll(known);
        int duplicates = batch.size() - fresh.size();
        if (fresh.isEmpty()) {
            return new BatchResult(0, duplicates, Map.of());
        }

        RateCard card = new RateCard(
                tierPrices.all(),
                plans.all(),
                assignments.of(
                        fresh.values().stream().map(i -> i.event().accountId()).collect(Collectors.toSet())),
                config.defaultPlan());
        // PostgreSQL keeps microseconds: the payload, the ledger row and the outbox row then agree exactly.
        Instant ratedAt = clock.instant().truncatedTo(ChronoUnit.MICROS);

        // A billable event whose tier has no price at its time cannot be rated: it goes to the dead-letter
        // topic (to be replayed once the price exists) rather than into the ledger at a made-up price.
        Map<String, String> unrateable = new LinkedHashMap<>();
        SortedMap<Key, List<Intake>> byMonth = new TreeMap<>();
        for (Intake intake : fresh.values()) {
            UsageEvent event = intake.event();
            if (event.billable()
                    && card.priceAt(event.priceTier(), event.occurredAt()).isEmpty()) {
                unrateable.put(
                        event.eventId(),
                        "no price for tier '" + event.priceTier() + "' at " + event.occurredAt()
                                + "; add one through /admin/price-tiers and replay");
                continue;
            }
            byMonth.computeIfAbsent(new Key(event.accountId(), periodOf(event.occurredAt())), k -> new ArrayList<>())
                    .add(intake);
        }

        // A few statements per batch, whatever the number of accounts: the months first (which locks them and
        // says how many included requests each has used), then the rows and the other totals.
        SortedMap<Key, Counts> monthCounts = new TreeMap<>();
        byMonth.forEach((key, events) -> monthCounts.put(
                key,
                new Counts(
                        events.size(),
                        events.stream().filter(i -> i.event().billable()).count())));
        Map<Key, Long> usedBefore = ledger.addToMonthCounts(monthCounts);

        List<LedgerEntry> entries = new ArrayList<>(fresh.size());
        List<OutboxEntry> outboxRows = new ArrayList<>(fresh.size());
        SortedMap<Key, Totals> monthAmounts = new TreeMap<>();
        SortedMap<Key, Totals> days = new TreeMap<>();
        byMonth.forEach((key, events) -> {
            long rank = 0;
            for (Intake intake : events) {
                LedgerEntry entry = rate(intake, card, ratedAt, usedBefore.get(key) + rank);
                if (entry.billable) {
                    rank++;
                }
                Totals one = new Totals(1, entry.billable ? 1 : 0, entry.includedInPlan ? 1 : 0, entry.amountMicros);
                monthAmounts.merge(key, one, LedgerService::sum);
                days.merge(new Key(entry.accountId, entry.usageDay.toString()), one, LedgerService::sum);
                entries.add(entry);
                if (entry.billable) {
                    outboxRows.add(outboxEntry(intake.event(), entry));
                }
            }
        });
        ledger.insert(entries);
        ledger.insertOutbox(outboxRows);
        ledger.addToMonthAmounts(monthAmounts);
        ledger.addToDays(days);
        return new BatchResult(fresh.size() - unrateable.size(), duplicates, unrateable);
    }

    /**
     * Rates one event. {@code billableBefore} is the number of billable requests of the account's month
     * rated before this one; the plan's included requests are used up in the order events are rated.
     */
    private LedgerEntry rate(Intake intake, RateCard card, Instant ratedAt, long billableBefore) {
        UsageEvent event = intake.event();
        LedgerEntry entry = new LedgerEntry();
        entry.eventId = event.eventId();
        entry.accountId = event.accountId();
        entry.apiKeyId = event.apiKeyId();
        entry.model = event.model();
        entry.priceTier = event.priceTier();
        entry.endpoint = event.endpoint().path();
        entry.outcome = event.outcome().wireName();
        entry.billable = event.billable();
        entry.occurredAt = event.occurredAt();
        entry.usageDay = LocalDate.ofInstant(event.occurredAt(), ZoneOffset.UTC);
        entry.billingPeriod = periodOf(event.occurredAt());
        entry.ratedAt = ratedAt;
        entry.sourcePartition = intake.partition();
        entry.sourceOffset = intake.offset();
        if (!event.billable()) {
            return entry;
        }
        TierPrice price = card.priceAt(event.priceTier(), event.occurredAt()).orElseThrow();
        entry.planId = card.planIdAt(event.accountId(), event.occurredAt());
        Optional<PlanVersion> plan = card.planAt(entry.planId, event.occurredAt());
        entry.planVersion = plan.map(p -> p.version).orElse(null);
        entry.includedInPlan = plan.isPresent() && billableBefore < plan.get().includedRequests;
        if (plan.isPresent() && plan.get().overagePriceMicros != null) {
            PlanVersion p = plan.get();
            entry.unitPriceMicros = p.overagePriceMicros;
            entry.currency = p.currency;
            entry.priceVersion = p.version;
            entry.priceEffectiveFrom = p.effectiveFrom;
        } else {
            entry.unitPriceMicros = price.priceMicros;
            entry.currency = price.currency;
            entry.priceVersion = price.version;
            entry.priceEffectiveFrom = price.effectiveFrom;
        }
        entry.amountMicros = RatedUsage.amountFor(entry.unitPriceMicros, 1, entry.includedInPlan);
        return entry;
    }

    private static OutboxEntry outboxEntry(UsageEvent event, LedgerEntry entry) {
        RatedUsage rated = RatedUsage.forUsage(event)
                .planId(entry.planId)
                .unitPriceMicros(entry.unitPriceMicros)
                .currency(entry.currency)
                .includedInPlan(entry.includedInPlan)
                .ratedAt(entry.ratedAt)
                .priceVersion(entry.priceVersion)
                .priceEffectiveFrom(entry.priceEffectiveFrom)
                .build();
        OutboxEntry row = new OutboxEntry();
        row.eventId = entry.eventId;
        row.accountId = entry.accountId;
        row.payload = EventJson.toJsonString(rated);
        row.createdAt = entry.ratedAt;
        return row;
    }

    public static String periodOf(Instant occurredAt) {
        return RatedUsage.billingPeriodOf(occurredAt).toString();
    }

    private static Totals sum(Totals a, Totals b) {
        return new Totals(
                a.requests() + b.requests(),
                a.billableRequests() + b.billableRequests(),
                a.includedRequests() + b.includedRequests(),
                a.amountMicros() + b.amountMicros());
    }
}
