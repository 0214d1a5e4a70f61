package io.flatfare.metering.service;

import io.flatfare.contracts.events.RatedUsage;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.metering.config.MeteringConfig;
import io.flatfare.metering.domain.LedgerEntry;
import io.flatfare.metering.domain.LedgerRepository;
import io.flatfare.metering.domain.LedgerRepository.Counts;
import io.flatfare.metering.domain.LedgerRepository.Key;
import io.flatfare.metering.domain.LedgerRepository.Rating;
import io.flatfare.metering.domain.LedgerRepository.Recorded;
import io.flatfare.metering.domain.PlanAssignmentRepository;
import io.flatfare.metering.domain.PlanRepository;
import io.flatfare.metering.domain.PlanVersion;
import io.flatfare.metering.domain.TierPrice;
import io.flatfare.metering.domain.TierPriceRepository;
import io.flatfare.metering.domain.Totals;
import io.flatfare.support.api.DatabaseFailures;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.transaction.Transactional;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Rates usage events and writes them to the ledger and the totals in one transaction: either a batch is wholly
 * recorded or not at all. Answers the rated usage to publish, which the consumer sends in the Kafka transaction
 * that also commits the batch's offsets.
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
        return record(batch, true);
    }

    /**
     * {@link #record(List)} without first looking up which ids the ledger holds already: the cheaper path while
     * repeats are rare. If any is there, the ledger insert fails on its primary key ({@link #isRepeat}) and the
     * whole transaction rolls back; the caller then records the batch again with {@link #record(List)}.
     */
    @Transactional
    public BatchResult recordAssumingNew(List<Intake> batch) {
        return record(batch, false);
    }

    /** Whether a failure of {@link #recordAssumingNew} is an event id the ledger holds already. */
    public static boolean isRepeat(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof SQLException sql && "23505".equals(sql.getSQLState())) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether PostgreSQL refused a value of the batch itself: a data exception (SQL state class 22, e.g. a NUL in a
     * text) or a broken constraint other than a unique one (class 23 but 23505, which two writers racing for one
     * event id also raise). Such a batch fails every time it is tried; the records at fault have to be found and set
     * aside, where any other failure (the database away) is waited out.
     */
    public static boolean isRefused(Throwable failure) {
        String state = DatabaseFailures.sqlError(failure)
                .map(SQLException::getSQLState)
                .orElse("");
        return state.startsWith("22") || (state.startsWith("23") && !state.equals("23505"));
    }

    /** The database's own words for {@link #isRefused a refused value}, for a dead letter's reason (not a log). */
    public static String refusal(Throwable failure) {
        return DatabaseFailures.sqlError(failure)
                .map(sql -> "the database refused the event (SQL state " + sql.getSQLState() + "): " + sql.getMessage())
                .orElse(String.valueOf(failure.getMessage()));
    }

    private BatchResult record(List<Intake> batch, boolean lookUp) {
        Map<String, Intake> fresh = new LinkedHashMap<>();
        batch.forEach(intake -> fresh.putIfAbsent(intake.event().eventId(), intake));
        Map<String, Recorded> known = lookUp ? ledger.existing(fresh.keySet()) : Map.of();
        fresh.keySet().removeAll(known.keySet());
        int duplicates = batch.size() - fresh.size();
        // A record already in the ledger from this very position (partition, offset) is one whose Kafka
        // transaction never committed (a crash or failure between the two commits): its rated usage is sent
        // again. The same event at any other position is a repeat and sends nothing.
        Map<String, RatedUsage> rated = new LinkedHashMap<>();
        for (Intake intake : batch) {
            Recorded row = known.get(intake.event().eventId());
            if (row != null && row.rated() != null && row.isFrom(intake.partition(), intake.offset())) {
                rated.put(intake.event().eventId(), row.rated().toRatedUsage(intake.event()));
            }
        }
        if (fresh.isEmpty()) {
            return new BatchResult(0, duplicates, Map.of(), List.copyOf(rated.values()));
        }

        RateCard card = new RateCard(
                tierPrices.all(),
                plans.all(),
                assignments.of(
                        fresh.values().stream().map(i -> i.event().accountId()).collect(Collectors.toSet())),
                config.defaultPlan());
        // PostgreSQL keeps microseconds: the payload and the ledger row then agree exactly.
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

        // A few statements per batch, whatever the number of accounts. A month whose plan includes requests
        // needs its count so far: those months are counted first (which locks them, so two writers cannot use
        // the same included requests). Every other month, and every day, is then written once.
        SortedMap<Key, Counts> counted = new TreeMap<>();
        byMonth.forEach((key, events) -> {
            if (events.stream()
                    .anyMatch(i -> i.event().billable()
                            && card.includesRequests(
                                    i.event().accountId(), i.event().occurredAt()))) {
                counted.put(
                        key,
                        new Counts(
                                events.size(),
                                events.stream()
                                        .filter(i -> i.event().billable())
                                        .count()));
            }
        });
        Map<Key, Long> usedBefore = ledger.addToMonthCounts(counted);

        List<LedgerEntry> entries = new ArrayList<>(fresh.size());
        Map<String, RatedUsage> freshRated = new HashMap<>();
        SortedMap<Key, Totals> months = new TreeMap<>();
        SortedMap<Key, Totals> days = new TreeMap<>();
        byMonth.forEach((key, events) -> {
            long rank = 0;
            for (Intake intake : events) {
                LedgerEntry entry = rate(intake, card, ratedAt, usedBefore.getOrDefault(key, 0L) + rank);
                if (entry.billable) {
                    rank++;
                }
                Totals one = new Totals(1, entry.billable ? 1 : 0, entry.includedInPlan ? 1 : 0, entry.amountMicros);
                // A counted month has its requests in already.
                months.merge(
                        key,
                        counted.containsKey(key) ? new Totals(0, 0, one.includedRequests(), one.amountMicros()) : one,
                        LedgerService::sum);
                days.merge(new Key(entry.accountId, entry.usageDay.toString()), one, LedgerService::sum);
                entries.add(entry);
                if (entry.billable) {
                    freshRated.put(entry.eventId, Rating.of(entry).toRatedUsage(intake.event()));
                }
            }
        });
        ledger.insert(entries);
        ledger.addToMonths(months);
        ledger.addToDays(days);
        // In the order of the batch, so that an account's rated usage leaves in the order its usage came.
        List<RatedUsage> out = new ArrayList<>(rated.size() + freshRated.size());
        for (Intake intake : batch) {
            RatedUsage usage = freshRated.remove(intake.event().eventId());
            if (usage == null) {
                usage = rated.remove(intake.event().eventId());
            }
            if (usage != null) {
                out.add(usage);
            }
        }
        return new BatchResult(fresh.size() - unrateable.size(), duplicates, unrateable, out);
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
