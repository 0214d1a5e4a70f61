package io.flatfare.gateway.api.admin;

import io.flatfare.gateway.account.AccountException;
import io.flatfare.gateway.account.AccountService;
import io.flatfare.gateway.api.admin.AdminViews.PlanRequest;
import io.flatfare.gateway.api.admin.AdminViews.PlanView;
import io.flatfare.support.api.ListView;
import jakarta.validation.Valid;
import jakarta.validation.constraints.NotNull;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;

/** Plan administration. Authentication is done by {@link AdminAuthFilter}. */
@Path("/admin/plans")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public class PlanAdminResource {

    private final AccountService accounts;

    PlanAdminResource(AccountService accounts) {
        this.accounts = accounts;
    }

    @GET
    public ListView<PlanView> list() {
        return ListView.of(accounts.plans().stream().map(PlanView::of).toList());
    }

    @POST
    public Response create(@Valid @NotNull PlanRequest request, UriInfo uri) {
        if (request.id() == null) {
            throw AccountException.invalid("id", "id is required.");
        }
        requireSomeModel(request);
        var plan = accounts.createPlan(request.toPlan(request.id()));
        return Response.created(uri.getAbsolutePathBuilder().path(plan.id).build())
                .entity(PlanView.of(plan))
                .build();
    }

    @GET
    @Path("/{id}")
    public PlanView get(@PathParam("id") String id) {
        return PlanView.of(accounts.plan(id));
    }

    /** Replaces the plan's models, tiers and limits; accounts on it get them within the key cache's TTL. */
    @PUT
    @Path("/{id}")
    public PlanView replace(@PathParam("id") String id, @Valid @NotNull PlanRequest request) {
        if (request.id() != null && !request.id().equals(id)) {
            throw AccountException.invalid("id", "The body's id must match the path, or be left out.");
        }
        requireSomeModel(request);
        return PlanView.of(accounts.updatePlan(request.toPlan(id)));
    }

    /** A plan that allows nothing is almost always a body that forgot its lists (a PUT replaces them). */
    private static void requireSomeModel(PlanRequest request) {
        boolean noModels =
                request.allowedModels() == null || request.allowedModels().isEmpty();
        boolean noTiers =
                request.allowedTiers() == null || request.allowedTiers().isEmpty();
        if (noModels && noTiers) {
            throw AccountException.invalid(
                    "allowed_models",
                    "A plan must allow some models: list model ids or \"*\" in allowed_models, or price tiers in"
                            + " allowed_tiers.");
        }
    }
}
