package io.flatfare.gateway.account;

import io.quarkus.hibernate.orm.panache.PanacheRepositoryBase;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.List;

@ApplicationScoped
public class AccountRepository implements PanacheRepositoryBase<AccountEntity, String> {

    public List<AccountEntity> all() {
        return list("order by id");
    }

    public List<AccountEntity> onPlan(String planId) {
        return list("plan.id = ?1 order by id", planId);
    }
}
