package io.flatfare.registry.domain;

import io.quarkus.hibernate.orm.panache.PanacheRepositoryBase;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.util.List;

@ApplicationScoped
public class InstanceRepository implements PanacheRepositoryBase<InstanceEntity, String> {

    /** READY instances serving {@code modelId} whose last heartbeat is after {@code cutoff}, freshest first. */
    public List<InstanceEntity> routable(String modelId, Instant cutoff) {
        return list(
                "select distinct i from InstanceEntity i join i.models m"
                        + " where key(m) = ?1 and i.state = ?2 and i.lastHeartbeat > ?3 order by i.lastHeartbeat desc",
                modelId,
                InstanceState.READY,
                cutoff);
    }

    public List<InstanceEntity> live(Instant cutoff) {
        return list("lastHeartbeat > ?1 order by id", cutoff);
    }

    /** The last heartbeat recorded for any instance, or null when there is none. */
    public Instant newestHeartbeat() {
        return getEntityManager()
                .createQuery("select max(i.lastHeartbeat) from InstanceEntity i", Instant.class)
                .getSingleResult();
    }

    /** Deletes instances whose last heartbeat is at or before {@code cutoff}; their model links cascade. */
    public long deleteExpired(Instant cutoff) {
        return delete("lastHeartbeat <= ?1", cutoff);
    }
}
