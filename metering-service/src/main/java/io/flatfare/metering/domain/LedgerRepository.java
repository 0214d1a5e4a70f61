package io.flatfare.metering.domain;

import io.quarkus.hibernate.orm.panache.PanacheRepositoryBase;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.time.LocalDate;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** The ledger and the per-account totals that sum it. */
@ApplicationScoped
public class LedgerRepository implements PanacheRepositoryBase<LedgerEntry, String> {

    /** Which of these event ids are in the ledger already. */
    public Set<String> existing(Collection<String> eventIds) {
        if (eventIds.isEmpty()) {
            return Set.of();
        }
        return new HashSet<>(getEntityManager()
                .createQuery("select e.eventId from LedgerEntry e where e.eventId in :ids", String.class)
                .setParameter("ids", eventIds)
                .getResultList());
    }

    /**
     * Adds requests to an account's month and answers how many billable requests the month held before.
     * The upsert locks the row until commit, so two writers of one account cannot both use the same
     * included requests.
     */
    public long addToMonthCounts(String accountId, String period, long requests, long billable) {
        Number after = (Number) getEntityManager()
                .createNativeQuery("""
                        insert into account_monthly_totals as t
                            (account_id, billing_period, requests, billable_requests, included_requests, amount_micros)
                        values (?1, ?2, ?3, ?4, 0, 0)
                        on conflict (account_id, billing_period) do update
                            set requests = t.requests + excluded.requests,
                                billable_requests = t.billable_requests + excluded.billable_requests
                        returning t.billable_requests""")
                .setParameter(1, accountId)
                .setParameter(2, period)
                .setParameter(3, requests)
                .setParameter(4, billable)
                .getSingleResult();
        return after.longValue() - billable;
    }

    public void addToMonthAmounts(String accountId, String period, long included, long amountMicros) {
        getEntityManager()
                .createNativeQuery("""
                        update account_monthly_totals
                           set included_requests = included_requests + ?3, amount_micros = amount_micros + ?4
                         where account_id = ?1 and billing_period = ?2""")
                .setParameter(1, accountId)
                .setParameter(2, period)
                .setParameter(3, included)
                .setParameter(4, amountMicros)
                .executeUpdate();
    }

    public void addToDay(String accountId, LocalDate day, Totals delta) {
        getEntityManager()
                .createNativeQuery("""
                        insert into account_daily_totals as t
                            (account_id, usage_day, requests, billable_requests, included_requests, amount_micros)
                        values (?1, ?2, ?3, ?4, ?5, ?6)
                        on conflict (account_id, usage_day) do update
                            set requests = t.requests + excluded.requests,
                                billable_requests = t.billable_requests + excluded.billable_requests,
                                included_requests = t.included_requests + excluded.included_requests,
                                amount_micros = t.amount_micros + excluded.amount_micros""")
                .setParameter(1, accountId)
                .setParameter(2, day)
                .setParameter(3, delta.requests())
                .setParameter(4, delta.billableRequests())
                .setParameter(5, delta.includedRequests())
                .setParameter(6, delta.amountMicros())
                .executeUpdate();
    }

    public Totals day(String accountId, LocalDate day) {
        return totals(
                "select requests, billable_requests, included_requests, amount_micros from account_daily_totals"
                        + " where account_id = ?1 and usage_day = ?2",
                accountId,
                day);
    }

    public Totals month(String accountId, String period) {
        return totals(
                "select requests, billable_requests, included_requests, amount_micros from account_monthly_totals"
                        + " where account_id = ?1 and billing_period = ?2",
                accountId,
                period);
    }

    /** One period's (day's or month's) usage of an account, summed from the ledger itself. */
    public record UsageRow(
            String period, long requests, long billableRequests, long includedRequests, long amountMicros) {}

    public enum Granularity {
        DAY("usage_day"),
        MONTH("billing_period");

        private final String column;

        Granularity(String column) {
            this.column = column;
        }
    }

    /**
     * An account's usage per day or month for requests in {@code [from, until)}, optionally of one model,
     * for periods after {@code after} (the paging cursor), at most {@code limit} rows, oldest first. Sums the
     * ledger rather than the totals tables because only the ledger knows the model; the range on
     * {@code occurred_at} keeps it on the (account_id, occurred_at) index.
     */
    public List<UsageRow> usage(
            String accountId,
            Granularity granularity,
            Instant from,
            Instant until,
            String model,
            String after,
            int limit) {
        // The column comes from the enum, never from the request.
        String period = granularity.column;
        String sql = "select " + period + "::text as period, count(*),"
                + " count(*) filter (where billable), count(*) filter (where included_in_plan),"
                + " coalesce(sum(amount_micros), 0)"
                + " from usage_ledger where account_id = :account and occurred_at >= :from and occurred_at < :until"
                + (model == null ? "" : " and model = :model")
                + (after == null ? "" : " and " + period + "::text > :after")
                + " group by 1 order by 1 limit :limit";
        var query = getEntityManager()
                .createNativeQuery(sql)
                .setParameter("account", accountId)
                .setParameter("from", from)
                .setParameter("until", until)
                .setParameter("limit", limit);
        if (model != null) {
            query.setParameter("model", model);
        }
        if (after != null) {
            query.setParameter("after", after);
        }
        @SuppressWarnings("unchecked")
        List<Object[]> rows = query.getResultList();
        return rows.stream()
                .map(r -> new UsageRow(
                        (String) r[0],
                        ((Number) r[1]).longValue(),
                        ((Number) r[2]).longValue(),
                        ((Number) r[3]).longValue(),
                        ((Number) r[4]).longValue()))
                .toList();
    }

    /** Billable requests of a month that share a tier, a unit price and whether the plan included them. */
    public record InvoiceLineRow(
            String priceTier, boolean included, long unitPriceMicros, long requests, long amountMicros) {}

    /**
     * The billable requests of an account's month grouped by tier, unit price and inclusion, in the order
     * their prices first applied. A price change inside the month therefore gives its own line.
     */
    public List<InvoiceLineRow> invoiceLines(String accountId, String period) {
        @SuppressWarnings("unchecked")
        List<Object[]> rows = getEntityManager()
                .createNativeQuery("""
                        select price_tier, included_in_plan, unit_price_micros, count(*), sum(amount_micros)
                          from usage_ledger
                         where account_id = ?1 and billing_period = ?2 and billable
                         group by price_tier, included_in_plan, unit_price_micros
                         order by price_tier, included_in_plan desc, min(occurred_at), unit_price_micros""")
                .setParameter(1, accountId)
                .setParameter(2, period)
                .getResultList();
        return rows.stream()
                .map(r -> new InvoiceLineRow(
                        (String) r[0],
                        (Boolean) r[1],
                        ((Number) r[2]).longValue(),
                        ((Number) r[3]).longValue(),
                        ((Number) r[4]).longValue()))
                .toList();
    }

    /** Whether a request at or after {@code from} was rated with this tier, plan or account. */
    public boolean ratedSince(Dimension dimension, String value, Instant from) {
        return find(dimension.field + " = ?1 and occurredAt >= ?2", value, from)
                .firstResultOptional()
                .isPresent();
    }

    public enum Dimension {
        TIER("priceTier"),
        PLAN("planId"),
        ACCOUNT("accountId");

        private final String field;

        Dimension(String field) {
            this.field = field;
        }
    }

    private Totals totals(String sql, String accountId, Object key) {
        @SuppressWarnings("unchecked")
        List<Object[]> rows = getEntityManager()
                .createNativeQuery(sql)
                .setParameter(1, accountId)
                .setParameter(2, key)
                .getResultList();
        if (rows.isEmpty()) {
            return Totals.NONE;
        }
        Object[] row = rows.get(0);
        return new Totals(
                ((Number) row[0]).longValue(),
                ((Number) row[1]).longValue(),
                ((Number) row[2]).longValue(),
                ((Number) row[3]).longValue());
    }
}
