package io.flatfare.metering.domain;

import io.quarkus.hibernate.orm.panache.PanacheRepositoryBase;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

@ApplicationScoped
public class PlanAssignmentRepository implements PanacheRepositoryBase<PlanAssignment, PlanAssignment.Key> {

    public List<PlanAssignment> history(String accountId) {
        return list("accountId = ?1 order by effectiveFrom", accountId);
    }

    /** Every assignment of these accounts, oldest first: one query for a whole batch. */
    public List<PlanAssignment> of(Collection<String> accountIds) {
        return list("accountId in ?1 order by accountId, effectiveFrom", accountIds);
    }

    public Optional<PlanAssignment> latest(String accountId) {
        return find("accountId = ?1 order by effectiveFrom desc", accountId).firstResultOptional();
    }
}
