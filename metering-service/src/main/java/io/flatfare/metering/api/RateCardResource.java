package io.flatfare.metering.api;

import io.flatfare.metering.api.RateCardViews.AssignmentRequest;
import io.flatfare.metering.api.RateCardViews.AssignmentView;
import io.flatfare.metering.api.RateCardViews.PlanRequest;
import io.flatfare.metering.api.RateCardViews.PlanView;
import io.flatfare.metering.api.RateCardViews.TierPriceRequest;
import io.flatfare.metering.api.RateCardViews.TierPriceView;
import io.flatfare.metering.service.RateCardService;
import io.flatfare.metering.service.RateCardService.NewPlanVersion;
import io.flatfare.metering.service.RateCardService.NewTierPrice;
import io.flatfare.support.api.ListView;
import jakarta.validation.Valid;
import jakarta.validation.constraints.NotNull;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

/**
 * Rate card administration: tier prices, plans and account plan assignments. Only appends (POST adds a
 * version); there is no update or delete, because history is never rewritten. Guarded by
 * {@link AdminAuthFilter}.
 */
@Path("/admin")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public class RateCardResource {

    private final RateCardService rateCard;

    RateCardResource(RateCardService rateCard) {
        this.rateCard = rateCard;
    }

    @GET
    @Path("/price-tiers")
    public ListView<TierPriceView> tierPrices() {
        return ListView.of(rateCard.tierPrices().stream().map(TierPriceView::of).toList());
    }

    @GET
    @Path("/price-tiers/{tier}")
    public ListView<TierPriceView> tierPrices(@PathParam("tier") String tier) {
        return ListView.of(
                rateCard.tierPrices(tier).stream().map(TierPriceView::of).toList());
    }

    @POST
    @Path("/price-tiers/{tier}")
    public Response addTierPrice(@PathParam("tier") String tier, @Valid @NotNull TierPriceRequest request) {
        var price = rateCard.addTierPrice(
                tier, new NewTierPrice(request.priceMicros(), request.currency(), request.effectiveFrom()));
        return Response.status(201).entity(TierPriceView.of(price)).build();
    }

    @GET
    @Path("/plans")
    public ListView<PlanView> plans() {
        return ListView.of(rateCard.plans().stream().map(PlanView::of).toList());
    }

    @GET
    @Path("/plans/{planId}")
    public ListView<PlanView> plan(@PathParam("planId") String planId) {
        return ListView.of(rateCard.plan(planId).stream().map(PlanView::of).toList());
    }

    @POST
    @Path("/plans/{planId}")
    public Response addPlanVersion(@PathParam("planId") String planId, @Valid @NotNull PlanRequest request) {
        var plan = rateCard.addPlanVersion(
                planId,
                new NewPlanVersion(
                        request.monthlyFeeMicros(),
                        request.includedRequests(),
                        request.overagePriceMicros(),
                        request.currency(),
                        request.effectiveFrom()));
        return Response.status(201).entity(PlanView.of(plan)).build();
    }

    @GET
    @Path("/accounts/{accountId}/plan")
    public ListView<AssignmentView> assignments(@PathParam("accountId") String accountId) {
        return ListView.of(
                rateCard.assignments(accountId).stream().map(AssignmentView::of).toList());
    }

    @POST
    @Path("/accounts/{accountId}/plan")
    public Response assignPlan(@PathParam("accountId") String accountId, @Valid @NotNull AssignmentRequest request) {
        var assignment = rateCard.assignPlan(accountId, request.planId(), request.effectiveFrom());
        return Response.status(201).entity(AssignmentView.of(assignment)).build();
    }
}
