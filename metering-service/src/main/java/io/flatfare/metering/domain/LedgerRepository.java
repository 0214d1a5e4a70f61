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
