package io.flatfare.metering.domain;

import io.quarkus.hibernate.orm.panache.PanacheRepositoryBase;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.List;
import java.util.Optional;

@ApplicationScoped
public class PlanRepository implements PanacheRepositoryBase<PlanVersion, PlanVersion.Key> {

    public List<PlanVersion> history(String planId) {
        return list("planId = ?1 order by version", planId);
    }

    public List<PlanVersion> all() {
        return list("order by planId, version");
    }

    public Optional<PlanVersion> latest(String planId) {
        return find("planId = ?1 order by version desc", planId).firstResultOptional();
    }
}
