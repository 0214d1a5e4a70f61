package io.flatfare.metering.domain;

import io.quarkus.hibernate.orm.panache.PanacheRepositoryBase;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.List;

@ApplicationScoped
public class OutboxRepository implements PanacheRepositoryBase<OutboxEntry, Long> {

    /**
     * The oldest unsent records, locked for this transaction; rows another replica's relay holds are skipped,
     * so replicas never publish the same row at the same time.
     */
    @SuppressWarnings("unchecked")
    public List<OutboxEntry> lockOldest(int limit) {
        return getEntityManager()
                .createNativeQuery(
                        "select * from rated_usage_outbox order by id limit ?1 for update skip locked",
                        OutboxEntry.class)
                .setParameter(1, limit)
                .getResultList();
    }
}
