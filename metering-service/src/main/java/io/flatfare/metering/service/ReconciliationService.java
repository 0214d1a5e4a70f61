package io.flatfare.metering.service;

import io.flatfare.metering.domain.ReconciliationRepository;
import io.flatfare.metering.domain.ReconciliationRepository.Difference;
import io.flatfare.metering.domain.ReconciliationRepository.SourceDay;
import io.flatfare.support.api.Paging;
import io.flatfare.support.api.Storable;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.transaction.Transactional;
import java.time.LocalDate;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Reconciliation: a source's (the gateway's, say) per-account per-day request counts against the ledger. The
 * source is taken as complete for its range: a ledger day it lacks is a difference too.
 */
@ApplicationScoped
public class ReconciliationService {

    /** Rows per request; a larger source is sent in parts (by account or by range). */
    public static final int MAX_ROWS = 10_000;

    public static final int MAX_DAYS = 31;
    public static final int DEFAULT_LIMIT = 1000;
    public static final int MAX_LIMIT = 10_000;

    private final ReconciliationRepository repository;

    ReconciliationService(ReconciliationRepository repository) {
        this.repository = repository;
    }

    /** A source row as received; {@code index} names it in errors. */
    public record SourceRow(int index, String accountId, String day, Long requests, Long billableRequests) {}

    public enum Kind {
        MISSING_IN_LEDGER,
        MISSING_IN_SOURCE,
        COUNT_MISMATCH;

        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public record Item(
            String accountId,
            LocalDate day,
            Kind kind,
            Long sourceRequests,
            Long ledgerRequests,
            Long sourceBillableRequests,
            Long ledgerBillableRequests) {}

    public record Result(
            LocalDate from, LocalDate to, String accountId, int sourceRows, List<Item> differences, String nextAfter) {}

    /**
     * The differences between the source rows and the ledger over {@code from..to} (UTC days, inclusive; by
     * default the rows' first and last day), of {@code accountId} or, when null, of every account. A page
     * holds at most {@code limit}; {@code after} is the previous page's {@code next_after}.
     */
    @Transactional
    public Result reconcile(
            List<SourceRow> rows, String from, String to, String accountId, String after, String limit) {
        if (rows.size() > MAX_ROWS) {
            throw MeteringException.invalid(
                    "rows", "At most " + MAX_ROWS + " rows per request; send the source in parts.");
        }
        int size = Paging.size(limit, DEFAULT_LIMIT, MAX_LIMIT);
        List<SourceDay> source = rows.stream().map(r -> check(r, accountId)).toList();
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < source.size(); i++) {
            if (!seen.add(source.get(i).accountId() + '\n' + source.get(i).day())) {
                throw MeteringException.invalid(
                        "rows[" + rows.get(i).index() + "]", "Each account and day may appear once.");
            }
        }
        LocalDate fromDay = from != null
                ? day("from", from)
                : source.stream().map(SourceDay::day).min(LocalDate::compareTo).orElse(null);
        LocalDate toDay = to != null
                ? day("to", to)
                : source.stream().map(SourceDay::day).max(LocalDate::compareTo).orElse(null);
        if (fromDay == null || toDay == null) {
            throw MeteringException.invalid("from", "Without rows, 'from' and 'to' say which days to reconcile.");
        }
        if (toDay.isBefore(fromDay)) {
            throw MeteringException.invalid("to", "'to' must not be before 'from'.");
        }
        if (ChronoUnit.DAYS.between(fromDay, toDay) >= MAX_DAYS) {
            throw MeteringException.invalid("to", "At most " + MAX_DAYS + " days per request.");
        }
        for (int i = 0; i < source.size(); i++) {
            LocalDate day = source.get(i).day();
            if (day.isBefore(fromDay) || day.isAfter(toDay)) {
                throw MeteringException.invalid(
                        "rows[" + rows.get(i).index() + "].day", "The day is outside 'from'..'to'.");
            }
        }
        String afterAccount = null;
        LocalDate afterDay = null;
        if (after != null) {
            int at = after.lastIndexOf('@');
            afterAccount = at < 1 ? null : after.substring(0, at);
            afterDay = at < 1 ? null : parseOrNull(after.substring(at + 1));
            if (afterDay == null) {
                throw MeteringException.invalid("after", "'after' must be a 'next_after' of an earlier answer.");
            }
        }
        // One row more than asked tells whether there is a next page.
        List<Difference> found =
                repository.differences(source, fromDay, toDay, accountId, afterAccount, afterDay, size + 1);
        boolean hasMore = found.size() > size;
        List<Item> page =
                found.stream().limit(size).map(ReconciliationService::item).toList();
        String next =
                hasMore ? page.getLast().accountId() + "@" + page.getLast().day() : null;
        return new Result(fromDay, toDay, accountId, rows.size(), page, next);
    }

    private static SourceDay check(SourceRow row, String accountId) {
        String param = "rows[" + row.index() + "]";
        if (row.accountId() == null || row.accountId().isBlank()) {
            throw MeteringException.invalid(param + ".account_id", "'account_id' is required.");
        }
        if (!Storable.text(row.accountId())) {
            throw MeteringException.invalid(param + ".account_id", "'account_id' must not hold a NUL character.");
        }
        if (accountId != null && !accountId.equals(row.accountId())) {
            // The API answers 403 before it gets here; compared, another account's row would tell its counts.
            throw MeteringException.invalid(
                    param + ".account_id", "Only rows of account '" + accountId + "' may be reconciled here.");
        }
        if (row.day() == null) {
            throw MeteringException.invalid(param + ".day", "'day' is required (YYYY-MM-DD).");
        }
        LocalDate day = day(param + ".day", row.day());
        if (row.requests() == null || row.requests() < 0) {
            throw MeteringException.invalid(param + ".requests", "'requests' must be a whole number ≥ 0.");
        }
        if (row.billableRequests() != null && (row.billableRequests() < 0 || row.billableRequests() > row.requests())) {
            throw MeteringException.invalid(
                    param + ".billable_requests", "'billable_requests' must be between 0 and 'requests'.");
        }
        return new SourceDay(row.accountId(), day, row.requests(), row.billableRequests());
    }

    private static Item item(Difference d) {
        Kind kind = d.ledgerRequests() == null
                ? Kind.MISSING_IN_LEDGER
                : d.sourceRequests() == null ? Kind.MISSING_IN_SOURCE : Kind.COUNT_MISMATCH;
        return new Item(
                d.accountId(),
                d.day(),
                kind,
                d.sourceRequests(),
                d.ledgerRequests(),
                d.sourceBillableRequests(),
                d.ledgerBillableRequests());
    }

    private static LocalDate day(String param, String value) {
        LocalDate day = parseOrNull(value);
        if (day == null) {
            throw MeteringException.invalid(
                    param, "'" + param + "' must be a day, YYYY-MM-DD, in the years 1 to 9999.");
        }
        return day;
    }

    /** A day as PostgreSQL keeps it: a far-past one it read back as another day, a far-future one it refused. */
    private static LocalDate parseOrNull(String value) {
        try {
            LocalDate day = LocalDate.parse(value);
            return Storable.day(day) ? day : null;
        } catch (DateTimeParseException e) {
            return null;
        }
    }
}
