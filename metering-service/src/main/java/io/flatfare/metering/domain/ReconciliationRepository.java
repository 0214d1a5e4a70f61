package io.flatfare.metering.domain;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.persistence.EntityManager;
import java.sql.Array;
import java.sql.Connection;
import java.sql.Date;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import org.hibernate.Session;

/** Compares a source's per-account per-day request counts with the ledger's daily totals, in the database. */
@ApplicationScoped
public class ReconciliationRepository {

    /** One day of one account as the source counted it; {@code billableRequests} may be unknown. */
    public record SourceDay(String accountId, LocalDate day, long requests, Long billableRequests) {}

    /** A (account, day) where the source and the ledger disagree; a null count means "no row on that side". */
    public record Difference(
            String accountId,
            LocalDate day,
            Long sourceRequests,
            Long ledgerRequests,
            Long sourceBillableRequests,
            Long ledgerBillableRequests) {}

    private final EntityManager entityManager;

    ReconciliationRepository(EntityManager entityManager) {
        this.entityManager = entityManager;
    }

    /**
     * The differences in {@code [from, to]}, of one account or (null) of every account, ordered by account
     * (byte order) and day, after the cursor ({@code afterAccount}, {@code afterDay}) when given, at most
     * {@code limit}. A day absent on one side counts zero requests there, so a source row of zero needs no
     * ledger row. Billable counts are compared only where the source gave one.
     */
    public List<Difference> differences(
            List<SourceDay> source,
            LocalDate from,
            LocalDate to,
            String accountId,
            String afterAccount,
            LocalDate afterDay,
            int limit) {
        // The source travels as four arrays, one round trip however many rows; the join runs in PostgreSQL.
        String sql = """
                with source (account_id, usage_day, requests, billable_requests) as (
                    select * from unnest(?::text[], ?::date[], ?::bigint[], ?::bigint[])),
                ledger as (
                    select account_id, usage_day, requests, billable_requests from account_daily_totals
                     where usage_day between ? and ? and (?::text is null or account_id = ?::text))
                select * from (
                    select coalesce(s.account_id, l.account_id) as account_id,
                           coalesce(s.usage_day, l.usage_day) as usage_day,
                           s.requests, l.requests, s.billable_requests, l.billable_requests
                      from source s full join ledger l on l.account_id = s.account_id and l.usage_day = s.usage_day
                     where coalesce(s.requests, 0) <> coalesce(l.requests, 0)
                        or (s.billable_requests is not null
                            and s.billable_requests <> coalesce(l.billable_requests, 0))) d
                 where ?::text is null or (d.account_id collate "C", d.usage_day) > (?::text collate "C", ?::date)
                 order by d.account_id collate "C", d.usage_day
                 limit ?""";
        return entityManager.unwrap(Session.class).doReturningWork(connection -> {
            try (PreparedStatement query = connection.prepareStatement(sql)) {
                int p = 1;
                query.setArray(p++, array(connection, "text", source.stream().map(SourceDay::accountId)));
                query.setArray(p++, array(connection, "date", source.stream().map(s -> Date.valueOf(s.day()))));
                query.setArray(p++, array(connection, "bigint", source.stream().map(SourceDay::requests)));
                query.setArray(p++, array(connection, "bigint", source.stream().map(SourceDay::billableRequests)));
                query.setObject(p++, from);
                query.setObject(p++, to);
                query.setString(p++, accountId);
                query.setString(p++, accountId);
                query.setString(p++, afterAccount);
                query.setString(p++, afterAccount);
                if (afterDay == null) {
                    query.setNull(p++, Types.DATE);
                } else {
                    query.setObject(p++, afterDay);
                }
                query.setInt(p, limit);
                List<Difference> differences = new ArrayList<>();
                try (ResultSet rows = query.executeQuery()) {
                    while (rows.next()) {
                        differences.add(new Difference(
                                rows.getString(1),
                                rows.getObject(2, LocalDate.class),
                                rows.getObject(3, Long.class),
                                rows.getObject(4, Long.class),
                                rows.getObject(5, Long.class),
                                rows.getObject(6, Long.class)));
                    }
                }
                return differences;
            }
        });
    }

    private static Array array(Connection connection, String type, java.util.stream.Stream<?> values)
            throws SQLException {
        return connection.createArrayOf(type, values.toArray());
    }
}
