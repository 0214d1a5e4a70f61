package io.flatfare.gateway.account;

import io.quarkus.hibernate.orm.panache.PanacheRepositoryBase;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.List;
import java.util.Optional;

@ApplicationScoped
public class ApiKeyRepository implements PanacheRepositoryBase<ApiKeyEntity, String> {

    /** The key with this hash, its account and the account's plan, in one query. */
    public Optional<ApiKeyEntity> findByHash(String hash) {
        return find("from ApiKeyEntity k join fetch k.account a join fetch a.plan where k.hash = ?1", hash)
                .firstResultOptional();
    }

    public List<ApiKeyEntity> ofAccount(String accountId) {
        return list("account.id = ?1 order by createdAt, id", accountId);
    }

    public Optional<ApiKeyEntity> ofAccount(String accountId, String keyId) {
        return find("id = ?1 and account.id = ?2", keyId, accountId).firstResultOptional();
    }
}
