package io.flatfare.registry.api.rest;

import io.flatfare.registry.service.CatalogService;
import io.flatfare.registry.service.RegistryException;
import io.flatfare.support.api.ListView;
import jakarta.validation.Valid;
import jakarta.validation.constraints.NotNull;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.DefaultValue;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;

/** Catalog administration. Authentication is done by {@link AdminAuthFilter}. */
@Path("/admin/models")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public class ModelAdminResource {

    private final CatalogService catalog;

    ModelAdminResource(CatalogService catalog) {
        this.catalog = catalog;
    }

    /** {@code include_retired} is taken as text: JAX-RS would read {@code yes} or {@code 1} as false, silently. */
    @GET
    public ListView<ModelView> list(@QueryParam("include_retired") @DefaultValue("false") String includeRetired) {
        boolean retiredToo = switch (includeRetired) {
            case "true" -> true;
            case "false" -> false;
            default -> throw RegistryException.invalid("include_retired", "include_retired must be true or false.");
        };
        return ListView.of(catalog.list(retiredToo).stream().map(ModelView::of).toList());
    }

    @POST
    public Response create(@Valid @NotNull ModelRequest request, UriInfo uri) {
        if (request.id() == null) {
            throw RegistryException.invalid("id", "id is required.");
        }
        var model = catalog.create(request.id(), request.toSpec());
        return Response.created(uri.getAbsolutePathBuilder().path(model.id).build())
                .entity(ModelView.of(model))
                .build();
    }

    @GET
    @Path("/{id}")
    public ModelView get(@PathParam("id") String id) {
        return ModelView.of(catalog.get(id));
    }

    /** Replaces the mutable fields of a model; the id never changes. */
    @PUT
    @Path("/{id}")
    public ModelView update(@PathParam("id") String id, @Valid @NotNull ModelRequest request) {
        if (request.id() != null && !request.id().equals(id)) {
            throw RegistryException.invalid("id", "The body's id must match the path, or be left out.");
        }
        return ModelView.of(catalog.update(id, request.toSpec()));
    }

    /** Retires the model: it stops resolving and listing, but its id and aliases stay reserved. */
    @DELETE
    @Path("/{id}")
    public ModelView retire(@PathParam("id") String id) {
        return ModelView.of(catalog.retire(id));
    }
}
