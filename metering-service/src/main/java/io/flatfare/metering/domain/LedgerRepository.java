package io.flatfare.metering.domain;

import io.flatfare.contracts.events.RatedUsage;
import io.flatfare.contracts.events.UsageEvent;
import io.quarkus.hibernate.orm.panache.PanacheRepositoryBase;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.stream.Stream;
import org.hibernate.Session;
import org.hibernate.jdbc.ReturningWork;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

/** The ledger and the per-account totals that sum it. */
@ApplicationScoped
public class LedgerRepository implements PanacheRepositoryBase<LedgerEntry, String> {

    /**
     * The rows of these event ids that are in the ledger already, with where each was read from and, for a
     * billable one, its rating. One statement with the ids as an array (a query with one bound parameter per id
     * cost more CPU in Hibernate's parameter binding than the lookup itself).
     */
    public Map<String, Recorded> existing(Collection<String> eventIds) {
        if (eventIds.isEmpty()) {
            return Map.of();
        }
        return work(connection -> {
            try (PreparedStatement select = connection.prepareStatement("""
                    select event_id, source_partition, source_offset, billable, plan_id, unit_price_micros, currency,
                           included_in_plan, rated_at, price_version, price_effective_from
                      from usage_ledger where event_id = any(?::text[])""")) {
                select.setArray(1, connection.createArrayOf("text", eventIds.toArray()));
                Map<String, Recorded> known = new HashMap<>();
                try (ResultSet rows = select.executeQuery()) {
                    while (rows.next()) {
                        Rating rating = rows.getBoolean(4)
                                ? new Rating(
                                        rows.getString(5),
                                        rows.getLong(6),
                                        rows.getString(7),
                                        rows.getBoolean(8),
                                        rows.getObject(9, OffsetDateTime.class).toInstant(),
                                        rows.getInt(10),
                                        rows.getObject(11, OffsetDateTime.class).toInstant())
                                : null;
                        known.put(rows.getString(1), new Recorded(rows.getInt(2), rows.getLong(3), rating));
                    }
                }
                return known;
            }
        });
    }

    /** A ledger row as far as re-publishing needs it: where it was read from and its rating (null: not billable). */
    public record Recorded(int partition, long offset, Rating rated) {
        public boolean isFrom(int partition, long offset) {
            return this.partition == partition && this.offset == offset;
        }
    }

    /** What rating added to a billable usage event; with the event, it is the whole rated usage record. */
    public record Rating(
            String planId,
            long unitPriceMicros,
            String currency,
            boolean includedInPlan,
            Instant ratedAt,
            int priceVersion,
            Instant priceEffectiveFrom) {

        public static Rating of(LedgerEntry entry) {
            return new Rating(
                    entry.planId,
                    entry.unitPriceMicros,
                    entry.currency,
                    entry.includedInPlan,
                    entry.ratedAt,
                    entry.priceVersion,
                    entry.priceEffectiveFrom);
        }

        public RatedUsage toRatedUsage(UsageEvent event) {
            return RatedUsage.forUsage(event)
                    .planId(planId)
                    .unitPriceMicros(unitPriceMicros)
                    .currency(currency)
                    .includedInPlan(includedInPlan)
                    .ratedAt(ratedAt)
                    .priceVersion(priceVersion)
                    .priceEffectiveFrom(priceEffectiveFrom)
                    .build();
        }
    }

    /** Requests to add to an account's month (or day): all of them, and the billable ones. */
    public record Counts(long requests, long billable) {}

    /** An account's month or day: {@code period} is {@code YYYY-MM} or {@code YYYY-MM-DD}. */
    public record Key(String accountId, String period) implements Comparable<Key> {
        @Override
        public int compareTo(Key other) {
            int byAccount = accountId.compareTo(other.accountId);
            return byAccount != 0 ? byAccount : period.compareTo(other.period);
        }
    }

    /**
     * Adds requests to accounts' months, in one statement, and answers how many billable requests each month
     * held before. The upsert locks the rows until commit, so two writers of one account cannot both use the
     * same included requests; keys are taken in sorted order, so two writers lock in the same order.
     */
    public Map<Key, Long> addToMonthCounts(SortedMap<Key, Counts> months) {
        if (months.isEmpty()) {
            return Map.of();
        }
        return work(connection -> {
            try (PreparedStatement upsert = connection.prepareStatement("""
                    insert into account_monthly_totals as t
                        (account_id, billing_period, requests, billable_requests, included_requests, amount_micros)
                    select a, p, r, b, 0, 0 from unnest(?::text[], ?::text[], ?::bigint[], ?::bigint[]) as u (a, p, r, b)
                    on conflict (account_id, billing_period) do update
                        set requests = t.requests + excluded.requests,
                            billable_requests = t.billable_requests + excluded.billable_requests
                    returning t.account_id, t.billing_period, t.billable_requests""")) {
                upsert.setArray(
                        1, array(connection, "text", months.keySet().stream().map(Key::accountId)));
                upsert.setArray(
                        2, array(connection, "text", months.keySet().stream().map(Key::period)));
                upsert.setArray(
                        3, array(connection, "bigint", months.values().stream().map(Counts::requests)));
                upsert.setArray(
                        4, array(connection, "bigint", months.values().stream().map(Counts::billable)));
                Map<Key, Long> before = new HashMap<>();
                try (ResultSet rows = upsert.executeQuery()) {
                    while (rows.next()) {
                        Key key = new Key(rows.getString(1), rows.getString(2));
                        before.put(key, rows.getLong(3) - months.get(key).billable());
                    }
                }
                return before;
            }
        });
    }

    /** Adds a batch's totals to accounts' months, in one statement (keys in sorted order, as every writer). */
    public void addToMonths(SortedMap<Key, Totals> months) {
        addTotals("account_monthly_totals", "billing_period", "p", months);
    }

    /** Adds a batch's totals to accounts' days, in one statement. */
    public void addToDays(SortedMap<Key, Totals> days) {
        addTotals("account_daily_totals", "usage_day", "p::date", days);
    }

    private void addTotals(String table, String periodColumn, String period, SortedMap<Key, Totals> totals) {
        if (totals.isEmpty()) {
            return;
        }
        // Table and column names are constants of this class, never input.
        String sql = "insert into " + table + " as t (account_id, " + periodColumn
                + ", requests, billable_requests, included_requests, amount_micros)"
                + " select a, " + period + ", r, b, i, m"
                + " from unnest(?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[])"
                + " as u (a, p, r, b, i, m)"
                + " on conflict (account_id, " + periodColumn + ") do update"
                + " set requests = t.requests + excluded.requests,"
                + " billable_requests = t.billable_requests + excluded.billable_requests,"
                + " included_requests = t.included_requests + excluded.included_requests,"
                + " amount_micros = t.amount_micros + excluded.amount_micros";
        work(connection -> {
            try (PreparedStatement upsert = connection.prepareStatement(sql)) {
                upsert.setArray(
                        1, array(connection, "text", totals.keySet().stream().map(Key::accountId)));
                upsert.setArray(
                        2, array(connection, "text", totals.keySet().stream().map(Key::period)));
                upsert.setArray(
                        3, array(connection, "bigint", totals.values().stream().map(Totals::requests)));
                upsert.setArray(
                        4, array(connection, "bigint", totals.values().stream().map(Totals::billableRequests)));
                upsert.setArray(
                        5, array(connection, "bigint", totals.values().stream().map(Totals::includedRequests)));
                upsert.setArray(
                        6, array(connection, "bigint", totals.values().stream().map(Totals::amountMicros)));
                return upsert.executeUpdate();
            }
        });
    }

    private static final String COPY_LEDGER = "copy usage_ledger (event_id, account_id, api_key_id, model, price_tier,"
            + " endpoint, outcome, billable, occurred_at, usage_day, billing_period, plan_id, plan_version, price_version,"
            + " price_effective_from, unit_price_micros, amount_micros, currency, included_in_plan, rated_at,"
            + " source_partition, source_offset) from stdin";

    /**
     * Inserts ledger rows with one {@code COPY} (text format): the cheapest way into PostgreSQL for the server,
     * which parses plain rows instead of a statement's column arrays. The caller has removed ids already in the
     * ledger; a row written meanwhile by another transaction fails the whole batch on the primary key, and the
     * retry then finds it.
     */
    public void insert(List<LedgerEntry> entries) {
        if (entries.isEmpty()) {
            return;
        }
        StringBuilder rows = new StringBuilder(entries.size() * 512);
        for (LedgerEntry e : entries) {
            CopyText.field(rows, e.eventId);
            CopyText.field(rows, e.accountId);
            CopyText.field(rows, e.apiKeyId);
            CopyText.field(rows, e.model);
            CopyText.field(rows, e.priceTier);
            CopyText.field(rows, e.endpoint);
            CopyText.field(rows, e.outcome);
            CopyText.field(rows, e.billable);
            CopyText.field(rows, e.occurredAt);
            CopyText.field(rows, e.usageDay);
            CopyText.field(rows, e.billingPeriod);
            CopyText.field(rows, e.planId);
            CopyText.field(rows, e.planVersion);
            CopyText.field(rows, e.priceVersion);
            CopyText.field(rows, e.priceEffectiveFrom);
            CopyText.field(rows, e.unitPriceMicros);
            CopyText.field(rows, e.amountMicros);
            CopyText.field(rows, e.currency);
            CopyText.field(rows, e.includedInPlan);
            CopyText.field(rows, e.ratedAt);
            CopyText.field(rows, e.sourcePartition);
            CopyText.last(rows, e.sourceOffset);
        }
        byte[] data = rows.toString().getBytes(StandardCharsets.UTF_8);
        work(connection -> {
            CopyManager copy = connection.unwrap(PGConnection.class).getCopyAPI();
            try {
                return copy.copyIn(COPY_LEDGER, new ByteArrayInputStream(data), 1 << 16);
            } catch (IOException e) {
                throw new SQLException("Copying ledger rows failed", e);
            }
        });
    }

    private <T> T work(ReturningWork<T> work) {
        return getEntityManager().unwrap(Session.class).doReturningWork(work);
    }

    private static Array array(Connection connection, String type, Stream<?> values) throws SQLException {
        return connection.createArrayOf(type, values.toArray());
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
