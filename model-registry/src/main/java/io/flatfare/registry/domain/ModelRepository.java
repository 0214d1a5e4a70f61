package io.flatfare.registry.domain;

import io.quarkus.hibernate.orm.panache.PanacheRepositoryBase;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.List;
import java.util.Optional;

@ApplicationScoped
public class ModelRepository implements PanacheRepositoryBase<ModelEntity, String> {

    /** The model whose id or one of whose aliases is {@code name}. */
    public Optional<ModelEntity> findByIdOrAlias(String name) {
        return find("select distinct m from ModelEntity m left join m.aliases a where m.id = ?1 or a = ?1", name)
                .firstResultOptional();
    }

    /** The model that owns {@code alias}, if any. */
    public Optional<String> ownerOfAlias(String alias) {
        return getEntityManager()
                .createQuery("select m.id from ModelEntity m join m.aliases a where a = ?1", String.class)
                .setParameter(1, alias)
                .getResultStream()
                .findFirst();
    }

    public List<ModelEntity> listAll(boolean includeRetired) {
        return includeRetired ? list("order by id") : list("status = ?1 order by id", ModelStatus.ACTIVE);
    }
}
