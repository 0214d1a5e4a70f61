package io.flatfare.gateway.account;

import io.quarkus.hibernate.orm.panache.PanacheRepositoryBase;
import io.quarkus.panache.common.Parameters;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

@ApplicationScoped
public class AccountRepository implements PanacheRepositoryBase<AccountEntity, String> {

    /** In id order, those after {@code after} (all when null), on the plan when one is given; at most {@code max}. */
    public List<AccountEntity> page(Optional<String> planId, Optional<String> after, int max) {
        List<String> where = new ArrayList<>();
        Parameters parameters = new Parameters();
        planId.ifPresent(plan -> {
            where.add("plan.id = :plan");
            parameters.and("plan", plan);
        });
        after.ifPresent(id -> {
            where.add("id > :after");
            parameters.and("after", id);
        });
        String query = (where.isEmpty() ? "" : String.join(" and ", where) + " ") + "order by id";
        return find(query, parameters).range(0, max - 1).list();
    }
}
