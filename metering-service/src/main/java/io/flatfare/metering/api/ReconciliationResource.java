package io.flatfare.metering.api;

import io.flatfare.metering.service.MeteringException;
import io.flatfare.metering.service.ReconciliationService;
import io.flatfare.metering.service.ReconciliationService.Item;
import io.flatfare.metering.service.ReconciliationService.Result;
import io.flatfare.metering.service.ReconciliationService.SourceRow;
import io.flatfare.support.api.ApiError;
import jakarta.ws.rs.BeanParam;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Reconciliation: {@code POST} a source's per-account per-day request counts (JSON, or CSV with
 * {@code Content-Type: text/csv}), get back every difference from the ledger. {@code /finance/reconciliation}
 * covers every account (finance token); {@code /finance/accounts/{id}/reconciliation}, served by
 * {@link FinanceResource} through {@link #answer}, one account (its own token, or the finance token). Guarded
 * by {@link FinanceAuthFilter}.
 */
@Path("/finance")
@Produces({MediaType.APPLICATION_JSON, Csv.MEDIA_TYPE})
public class ReconciliationResource {

    private static final List<String> CSV_COLUMNS = List.of(
            "account_id",
            "day",
            "kind",
            "source_requests",
            "ledger_requests",
            "source_billable_requests",
            "ledger_billable_requests");

    private final ReconciliationService reconciliation;

    ReconciliationResource(ReconciliationService reconciliation) {
        this.reconciliation = reconciliation;
    }

    public record RowView(String accountId, String day, Long requests, Long billableRequests) {}

    /** {@code from} and {@code to} are optional; query parameters of the same name win. */
    public record RequestView(String from, String to, List<RowView> rows) {}

    record DifferenceView(
            String accountId,
            LocalDate day,
            String kind,
            Long sourceRequests,
            Long ledgerRequests,
            Long sourceBillableRequests,
            Long ledgerBillableRequests) {}

    record ResultView(
            String object,
            String accountId,
            LocalDate from,
            LocalDate to,
            int sourceRows,
            List<DifferenceView> data,
            boolean hasMore,
            String nextAfter) {}

    @POST
    @Path("/reconciliation")
    @Consumes(MediaType.APPLICATION_JSON)
    public Response everyAccount(RequestView body, @BeanParam ReconciliationQuery query) {
        return answer(null, rows(body), withBodyRange(query, body));
    }

    @POST
    @Path("/reconciliation")
    @Consumes(Csv.MEDIA_TYPE)
    public Response everyAccountCsv(String body, @BeanParam ReconciliationQuery query) {
        return answer(null, CsvSource.parse(body), query);
    }

    /** The query with the JSON body's {@code from}/{@code to} where the query gives none. */
    static ReconciliationQuery withBodyRange(ReconciliationQuery query, RequestView body) {
        query.from = from(query.from, body);
        query.to = to(query.to, body);
        return query;
    }

    Response answer(String accountId, List<SourceRow> rows, ReconciliationQuery query) {
        return answer(accountId, rows, query.from, query.to, query.after, query.limit, query.format, query.accept);
    }

    Response answer(
            String accountId,
            List<SourceRow> rows,
            String from,
            String to,
            String after,
            String limit,
            String format,
            String accept) {
        boolean csv = FinanceResource.csv(format, accept);
        if (accountId != null) {
            for (SourceRow row : rows) {
                if (!accountId.equals(row.accountId())) {
                    return ApiError.response(
                            403,
                            "permission_error",
                            "Only rows of account '" + accountId + "' may be reconciled here.",
                            "rows[" + row.index() + "].account_id",
                            "account_forbidden");
                }
            }
        }
        Result result = reconciliation.reconcile(rows, from, to, accountId, after, limit);
        List<DifferenceView> views =
                result.differences().stream().map(ReconciliationResource::view).toList();
        if (!csv) {
            return Response.ok(new ResultView(
                            "reconciliation",
                            result.accountId(),
                            result.from(),
                            result.to(),
                            result.sourceRows(),
                            views,
                            result.nextAfter() != null,
                            result.nextAfter()))
                    .type(MediaType.APPLICATION_JSON_TYPE)
                    .build();
        }
        List<List<Object>> lines = views.stream()
                .map(v -> Arrays.<Object>asList(
                        v.accountId(),
                        v.day(),
                        v.kind(),
                        v.sourceRequests(),
                        v.ledgerRequests(),
                        v.sourceBillableRequests(),
                        v.ledgerBillableRequests()))
                .toList();
        var response = Response.ok(Csv.of(CSV_COLUMNS, lines)).type(Csv.MEDIA_TYPE);
        if (result.nextAfter() != null) {
            response.header(FinanceResource.NEXT_AFTER_HEADER, result.nextAfter());
        }
        return response.build();
    }

    static List<SourceRow> rows(RequestView body) {
        if (body == null || body.rows() == null) {
            throw MeteringException.invalid("rows", "'rows' is required (it may be empty).");
        }
        List<RowView> rows = body.rows();
        return IntStream.range(0, rows.size())
                .mapToObj(i -> rows.get(i) == null
                        ? new SourceRow(i, null, null, null, null)
                        : new SourceRow(
                                i,
                                rows.get(i).accountId(),
                                rows.get(i).day(),
                                rows.get(i).requests(),
                                rows.get(i).billableRequests()))
                .toList();
    }

    static String from(String query, RequestView body) {
        return query != null ? query : body == null ? null : body.from();
    }

    static String to(String query, RequestView body) {
        return query != null ? query : body == null ? null : body.to();
    }

    private static DifferenceView view(Item item) {
        return new DifferenceView(
                item.accountId(),
                item.day(),
                item.kind().wireName(),
                item.sourceRequests(),
                item.ledgerRequests(),
                item.sourceBillableRequests(),
                item.ledgerBillableRequests());
    }

    /** A CSV source: header {@code account_id,day,requests[,billable_requests]}, RFC 4180 quoting. */
    static final class CsvSource {

        private CsvSource() {}

        static List<SourceRow> parse(String body) {
            List<List<String>> records;
            try {
                records = Csv.parse(body == null ? "" : body);
            } catch (IllegalArgumentException e) {
                throw MeteringException.invalid("body", "The CSV is malformed: " + e.getMessage() + ".");
            }
            if (records.isEmpty()) {
                throw MeteringException.invalid("body", "The CSV needs a header row.");
            }
            List<String> header = records.get(0);
            int account = header.indexOf("account_id");
            int day = header.indexOf("day");
            int requests = header.indexOf("requests");
            int billable = header.indexOf("billable_requests");
            if (account < 0 || day < 0 || requests < 0) {
                throw MeteringException.invalid(
                        "body", "The CSV header must name account_id, day and requests (billable_requests optional).");
            }
            List<SourceRow> rows = new ArrayList<>();
            for (int i = 1; i < records.size(); i++) {
                List<String> record = records.get(i);
                int index = i - 1;
                if (record.size() != header.size()) {
                    throw MeteringException.invalid(
                            "rows[" + index + "]",
                            "Row " + i + " has " + record.size() + " fields, the header " + header.size() + ".");
                }
                rows.add(new SourceRow(
                        index,
                        record.get(account),
                        record.get(day),
                        number("rows[" + index + "].requests", record.get(requests)),
                        billable < 0 || record.get(billable).isEmpty()
                                ? null
                                : number("rows[" + index + "].billable_requests", record.get(billable))));
            }
            return rows;
        }

        private static Long number(String param, String value) {
            try {
                return Long.parseLong(value.strip());
            } catch (NumberFormatException e) {
                throw MeteringException.invalid(param, "'" + value + "' is not a whole number.");
            }
        }
    }
}
