package io.flatfare.metering.api;

import io.flatfare.metering.domain.LedgerRepository.UsageRow;
import io.flatfare.metering.service.FinanceService;
import io.flatfare.metering.service.FinanceService.Invoice;
import io.flatfare.metering.service.FinanceService.UsagePage;
import io.flatfare.metering.service.MeteringException;
import io.flatfare.support.api.PageView;
import jakarta.ws.rs.BeanParam;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The finance API: usage per day or month and the invoice of a month, as JSON or CSV ({@code ?format=csv} or
 * {@code Accept: text/csv}). Read-only. Guarded by {@link FinanceAuthFilter}.
 */
@Path("/finance/accounts/{accountId}")
@Produces({MediaType.APPLICATION_JSON, Csv.MEDIA_TYPE})
public class FinanceResource {

    /** Paging header of CSV answers, which have no room for it in the body. */
    static final String NEXT_AFTER_HEADER = "Flatfare-Next-After";

    private final FinanceService finance;
    private final ReconciliationResource reconciliation;

    FinanceResource(FinanceService finance, ReconciliationResource reconciliation) {
        this.finance = finance;
        this.reconciliation = reconciliation;
    }

    record UsageView(
            String period,
            String model,
            long requests,
            long billableRequests,
            long includedRequests,
            long amountMicros,
            String currency) {}

    @GET
    @Path("/usage")
    public Response usage(
            @PathParam("accountId") String accountId,
            @QueryParam("granularity") String granularity,
            @QueryParam("from") String from,
            @QueryParam("to") String to,
            @QueryParam("model") String model,
            @QueryParam("after") String after,
            @QueryParam("limit") String limit,
            @QueryParam("format") String format,
            @HeaderParam(HttpHeaders.ACCEPT) String accept) {
        boolean csv = csv(format, accept);
        UsagePage page = finance.usage(accountId, granularity, from, to, model, after, limit);
        List<UsageView> views =
                page.rows().stream().map(r -> view(r, model, page.currency())).toList();
        if (!csv) {
            return Response.ok(PageView.of(views, page.nextAfter()))
                    .type(MediaType.APPLICATION_JSON_TYPE)
                    .build();
        }
        List<List<Object>> rows = views.stream()
                .map(v -> Arrays.<Object>asList(
                        accountId,
                        v.period(),
                        v.model(),
                        v.requests(),
                        v.billableRequests(),
                        v.includedRequests(),
                        v.amountMicros(),
                        v.currency()))
                .toList();
        var response = Response.ok(Csv.of(
                        List.of(
                                "account_id",
                                "period",
                                "model",
                                "requests",
                                "billable_requests",
                                "included_requests",
                                "amount_micros",
                                "currency"),
                        rows))
                .type(Csv.MEDIA_TYPE);
        if (page.hasMore()) {
            response.header(NEXT_AFTER_HEADER, page.nextAfter());
        }
        return response.build();
    }

    @GET
    @Path("/invoices/{period}")
    public Response invoice(
            @PathParam("accountId") String accountId,
            @PathParam("period") String period,
            @QueryParam("format") String format,
            @HeaderParam(HttpHeaders.ACCEPT) String accept) {
        boolean csv = csv(format, accept);
        Invoice invoice = finance.invoice(accountId, period);
        if (!csv) {
            return Response.ok(invoice).type(MediaType.APPLICATION_JSON_TYPE).build();
        }
        // One row per line, then the fee and the total, so a spreadsheet sum of amount_micros over the
        // "usage", "included" and "monthly_fee" rows equals the "total" row.
        List<List<Object>> rows = new ArrayList<>();
        invoice.lines()
                .forEach(l -> rows.add(Arrays.asList(
                        invoice.accountId(),
                        invoice.billingPeriod(),
                        l.kind(),
                        l.priceTier(),
                        l.unitPriceMicros(),
                        l.requests(),
                        l.amountMicros(),
                        invoice.currency())));
        rows.add(List.of(
                invoice.accountId(),
                invoice.billingPeriod(),
                "monthly_fee",
                "",
                invoice.monthlyFeeMicros(),
                1,
                invoice.monthlyFeeMicros(),
                invoice.currency()));
        rows.add(List.of(
                invoice.accountId(),
                invoice.billingPeriod(),
                "total",
                "",
                "",
                invoice.billableRequests(),
                invoice.totalMicros(),
                invoice.currency()));
        return Response.ok(Csv.of(
                        List.of(
                                "account_id",
                                "billing_period",
                                "kind",
                                "price_tier",
                                "unit_price_micros",
                                "requests",
                                "amount_micros",
                                "currency"),
                        rows))
                .type(Csv.MEDIA_TYPE)
                .build();
    }

    // Here, not in ReconciliationResource: this class's path is the more specific match for the URL.
    @POST
    @Path("/reconciliation")
    @Consumes(MediaType.APPLICATION_JSON)
    public Response oneAccount(
            @PathParam("accountId") String accountId,
            ReconciliationResource.RequestView body,
            @BeanParam ReconciliationQuery query) {
        return reconciliation.answer(
                accountId, ReconciliationResource.rows(body), ReconciliationResource.withBodyRange(query, body));
    }

    @POST
    @Path("/reconciliation")
    @Consumes(Csv.MEDIA_TYPE)
    public Response oneAccountCsv(
            @PathParam("accountId") String accountId, String body, @BeanParam ReconciliationQuery query) {
        return reconciliation.answer(accountId, ReconciliationResource.CsvSource.parse(body), query);
    }

    private static UsageView view(UsageRow r, String model, String currency) {
        return new UsageView(
                r.period(),
                model,
                r.requests(),
                r.billableRequests(),
                r.includedRequests(),
                r.amountMicros(),
                currency);
    }

    /** {@code format} wins over {@code Accept}; JSON unless CSV is asked for. */
    static boolean csv(String format, String accept) {
        if (format != null) {
            return switch (format) {
                case "csv" -> true;
                case "json" -> false;
                default -> throw MeteringException.invalid("format", "'format' must be 'json' or 'csv'.");
            };
        }
        return accept != null && accept.contains(Csv.MEDIA_TYPE) && !accept.contains(MediaType.APPLICATION_JSON);
    }
}
