package io.flatfare.metering.service;

import io.flatfare.metering.config.MeteringConfig;
import io.flatfare.metering.domain.LedgerRepository;
import io.flatfare.metering.domain.LedgerRepository.Granularity;
import io.flatfare.metering.domain.LedgerRepository.InvoiceLineRow;
import io.flatfare.metering.domain.LedgerRepository.UsageRow;
import io.flatfare.metering.domain.PlanAssignmentRepository;
import io.flatfare.metering.domain.PlanRepository;
import io.flatfare.metering.domain.PlanVersion;
import io.flatfare.metering.domain.Totals;
import io.flatfare.support.api.Paging;
import io.flatfare.support.api.Storable;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.transaction.Transactional;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Read side for finance: usage per day or month and the invoice of a month, both computed from the ledger,
 * so they agree with rated usage to the micro-unit. Nothing here writes.
 */
@ApplicationScoped
public class FinanceService {

    public static final int DEFAULT_LIMIT = 100;
    public static final int MAX_LIMIT = 1000;

    private final LedgerRepository ledger;
    private final PlanRepository plans;
    private final PlanAssignmentRepository assignments;
    private final MeteringConfig config;

    FinanceService(
            LedgerRepository ledger,
            PlanRepository plans,
            PlanAssignmentRepository assignments,
            MeteringConfig config) {
        this.ledger = ledger;
        this.plans = plans;
        this.assignments = assignments;
        this.config = config;
    }

    public record UsagePage(List<UsageRow> rows, boolean hasMore, String nextAfter, String currency) {}

    /**
     * One page of usage. Dates are UTC days, {@code to} inclusive; a month row sums only the days of the
     * range. {@code after} is the last period of the previous page (the cursor), which stays valid while new
     * usage arrives, unlike an offset.
     */
    @Transactional
    public UsagePage usage(
            String accountId, String granularity, String from, String to, String model, String after, String limit) {
        Granularity g = granularity(granularity);
        LocalDate fromDay = day("from", from);
        LocalDate toDay = day("to", to);
        if (toDay.isBefore(fromDay)) {
            throw MeteringException.invalid("to", "'to' must not be before 'from'.");
        }
        if (after != null) {
            checkCursor(g, after);
        }
        int size = Paging.size(limit, DEFAULT_LIMIT, MAX_LIMIT);
        if (model != null && model.isBlank()) {
            throw MeteringException.invalid("model", "'model' must not be empty.");
        }
        // One row more than asked tells whether there is a next page without a count query.
        List<UsageRow> rows = ledger.usage(
                accountId,
                g,
                fromDay.atStartOfDay(ZoneOffset.UTC).toInstant(),
                toDay.plusDays(1).atStartOfDay(ZoneOffset.UTC).toInstant(),
                model,
                after,
                size + 1);
        boolean hasMore = rows.size() > size;
        List<UsageRow> page = hasMore ? rows.subList(0, size) : rows;
        String next = hasMore ? page.get(page.size() - 1).period() : null;
        return new UsagePage(page, hasMore, next, config.currency());
    }

    /** A line of an invoice; {@code amountMicros} is always {@code requests × unitPriceMicros}. */
    public record InvoiceLine(String kind, String priceTier, long unitPriceMicros, long requests, long amountMicros) {}

    public record Invoice(
            String accountId,
            String billingPeriod,
            String currency,
            String planId,
            Integer planVersion,
            long monthlyFeeMicros,
            long requests,
            long billableRequests,
            long includedRequests,
            long overageRequests,
            long usageAmountMicros,
            long totalMicros,
            List<InvoiceLine> lines) {}

    /**
     * The invoice of an account's month. The monthly fee is that of the plan version in force at the start of
     * the month (no proration yet); usage lines are the ledger's rated amounts, so a price change inside the
     * month shows as two lines, each at the price that applied.
     */
    @Transactional
    public Invoice invoice(String accountId, String period) {
        YearMonth month;
        try {
            month = YearMonth.parse(period);
        } catch (DateTimeParseException e) {
            throw MeteringException.invalid("billing_period", "The billing period must be YYYY-MM.");
        }
        if (!Storable.day(month.atDay(1))) {
            throw MeteringException.invalid("billing_period", "The billing period must be in the years 1 to 9999.");
        }
        Instant start = month.atDay(1).atStartOfDay(ZoneOffset.UTC).toInstant();
        RateCard card = new RateCard(List.of(), plans.all(), assignments.history(accountId), config.defaultPlan());
        String planId = card.planIdAt(accountId, start);
        Optional<PlanVersion> plan = card.planAt(planId, start);
        long fee = plan.map(p -> p.monthlyFeeMicros).orElse(0L);

        List<InvoiceLine> lines = ledger.invoiceLines(accountId, month.toString()).stream()
                .map(FinanceService::line)
                .toList();
        long included = lines.stream()
                .filter(l -> l.kind().equals("included"))
                .mapToLong(InvoiceLine::requests)
                .sum();
        long overage = lines.stream()
                .filter(l -> l.kind().equals("usage"))
                .mapToLong(InvoiceLine::requests)
                .sum();
        long usageAmount = lines.stream().mapToLong(InvoiceLine::amountMicros).sum();
        Totals totals = ledger.month(accountId, month.toString());
        return new Invoice(
                accountId,
                month.toString(),
                config.currency(),
                planId,
                plan.map(p -> p.version).orElse(null),
                fee,
                totals.requests(),
                totals.billableRequests(),
                included,
                overage,
                usageAmount,
                fee + usageAmount,
                lines);
    }

    /** Included requests are shown at unit price 0, so every line reads requests × unit price = amount. */
    private static InvoiceLine line(InvoiceLineRow row) {
        if (row.included()) {
            return new InvoiceLine("included", row.priceTier(), 0, row.requests(), row.amountMicros());
        }
        return new InvoiceLine("usage", row.priceTier(), row.unitPriceMicros(), row.requests(), row.amountMicros());
    }

    private static Granularity granularity(String value) {
        if (value == null) {
            throw MeteringException.invalid("granularity", "'granularity' is required: 'day' or 'month'.");
        }
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "day" -> Granularity.DAY;
            case "month" -> Granularity.MONTH;
            default -> throw MeteringException.invalid("granularity", "'granularity' must be 'day' or 'month'.");
        };
    }

    private static LocalDate day(String param, String value) {
        if (value == null) {
            throw MeteringException.invalid(param, "'" + param + "' is required (YYYY-MM-DD).");
        }
        LocalDate day;
        try {
            day = LocalDate.parse(value);
        } catch (DateTimeParseException e) {
            throw MeteringException.invalid(param, "'" + param + "' must be a date, YYYY-MM-DD.");
        }
        if (!Storable.day(day)) {
            throw MeteringException.invalid(param, "'" + param + "' must be in the years 1 to 9999.");
        }
        return day;
    }

    /** The cursor is compared as text in SQL, so it must have exactly the period's shape. */
    private static void checkCursor(Granularity g, String after) {
        try {
            if (g == Granularity.DAY) {
                LocalDate.parse(after);
            } else {
                YearMonth.parse(after);
            }
        } catch (DateTimeParseException e) {
            throw MeteringException.invalid("after", "'after' must be the next_after of a previous page.");
        }
    }
}
