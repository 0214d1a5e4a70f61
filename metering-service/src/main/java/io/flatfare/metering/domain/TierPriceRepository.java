package io.flatfare.metering.domain;

import io.quarkus.hibernate.orm.panache.PanacheRepositoryBase;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.List;
import java.util.Optional;

@ApplicationScoped
public class TierPriceRepository implements PanacheRepositoryBase<TierPrice, TierPrice.Key> {

    public List<TierPrice> history(String tier) {
        return list("tier = ?1 order by version", tier);
    }

    public List<TierPrice> all() {
        return list("order by tier, version");
    }

    public Optional<TierPrice> latest(String tier) {
        return find("tier = ?1 order by version desc", tier).firstResultOptional();
    }
}
