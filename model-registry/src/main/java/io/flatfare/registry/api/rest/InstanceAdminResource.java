package io.flatfare.registry.api.rest;

import io.flatfare.registry.service.InstanceService;
import io.flatfare.support.api.ListView;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

/** Read-only view of the live inference instances, for operators. */
@Path("/admin/instances")
@Produces(MediaType.APPLICATION_JSON)
public class InstanceAdminResource {

    private final InstanceService instances;

    InstanceAdminResource(InstanceService instances) {
        this.instances = instances;
    }

    @GET
    public ListView<InstanceView> live() {
        return ListView.of(instances.live().stream().map(InstanceView::of).toList());
    }
}
