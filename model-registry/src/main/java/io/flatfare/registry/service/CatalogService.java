package io.flatfare.registry.service;

import io.flatfare.registry.domain.ModelEntity;
import io.flatfare.registry.domain.ModelRepository;
import io.flatfare.registry.domain.ModelStatus;
import io.flatfare.support.api.DatabaseFailures;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.persistence.PersistenceException;
import jakarta.transaction.Transactional;
import java.time.Clock;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** The model catalog: ids and aliases form one namespace, so a name always means exactly one model. */
@ApplicationScoped
public class CatalogService {

    /** PostgreSQL's state for a unique key that a row would break. */
    private static final String UNIQUE_VIOLATION = "23505";

    private final ModelRepository models;
    private final Clock clock;

    CatalogService(ModelRepository models, Clock clock) {
        this.models = models;
        this.clock = clock;
    }

    @Transactional
    public ModelEntity create(String id, ModelSpec spec) {
        checkSpec(id, spec);
        if (models.findByIdOptional(id).isPresent()) {
            throw RegistryException.conflict("id", "model_exists", "A model with id '" + id + "' already exists.");
        }
        models.ownerOfAlias(id).ifPresent(owner -> {
            throw RegistryException.conflict(
                    "id", "name_conflict", "'" + id + "' is already an alias of the model '" + owner + "'.");
        });
        checkAliasesFree(id, spec.aliases());

        var model = new ModelEntity();
        model.id = id;
        model.status = ModelStatus.ACTIVE;
        model.createdAt = clock.instant();
        apply(model, spec);
        return persistChecked(model);
    }

    @Transactional
    public ModelEntity update(String id, ModelSpec spec) {
        var model = get(id);
        checkSpec(id, spec);
        checkAliasesFree(id, spec.aliases());
        apply(model, spec);
        return persistChecked(model);
    }

    /** Retiring is idempotent; the id and its aliases stay reserved so old references never change meaning. */
    @Transactional
    public ModelEntity retire(String id) {
        var model = get(id);
        if (model.status != ModelStatus.RETIRED) {
            model.status = ModelStatus.RETIRED;
            model.updatedAt = clock.instant();
        }
        return model;
    }

    @Transactional
    public ModelEntity get(String id) {
        return models.findByIdOptional(id).orElseThrow(() -> RegistryException.modelNotFound(id));
    }

    @Transactional
    public List<ModelEntity> list(boolean includeRetired) {
        return models.listAll(includeRetired);
    }

    /** The active model that {@code name} (an id or an alias) denotes. */
    @Transactional
    public ModelEntity resolve(String name) {
        if (name == null || name.isBlank()) {
            throw RegistryException.invalid("name", "A model name is required.");
        }
        // Every id is also a valid alias. Anything else (a client's typo passed on by the gateway, a NUL that
        // PostgreSQL would refuse) is not looked up.
        if (!Names.isAlias(name)) {
            throw RegistryException.modelNotFound(name);
        }
        var model = models.findByIdOrAlias(name).orElseThrow(() -> RegistryException.modelNotFound(name));
        if (model.status != ModelStatus.ACTIVE) {
            throw new RegistryException(
                    RegistryException.Kind.NOT_FOUND,
                    "The model '" + name + "' has been retired.",
                    "model",
                    "model_not_found");
        }
        return model;
    }

    private void checkSpec(String id, ModelSpec spec) {
        if (spec.maxOutputTokens() > spec.contextLength()) {
            throw RegistryException.invalid(
                    "max_output_tokens",
                    "max_output_tokens must not exceed context_length (" + spec.contextLength() + ").");
        }
        if (spec.aliases().contains(id)) {
            throw RegistryException.invalid("aliases", "A model's aliases must not repeat its id '" + id + "'.");
        }
    }

    private void checkAliasesFree(String id, Set<String> aliases) {
        for (String alias : aliases) {
            if (!alias.equals(id) && models.findByIdOptional(alias).isPresent()) {
                throw RegistryException.conflict(
                        "aliases", "name_conflict", "The alias '" + alias + "' is the id of another model.");
            }
            models.ownerOfAlias(alias).filter(owner -> !owner.equals(id)).ifPresent(owner -> {
                throw RegistryException.conflict(
                        "aliases",
                        "name_conflict",
                        "The alias '" + alias + "' already belongs to the model '" + owner + "'.");
            });
        }
    }

    private void apply(ModelEntity model, ModelSpec spec) {
        model.displayName = spec.displayName();
        model.aliases.clear();
        model.aliases.addAll(spec.aliases());
        model.ownedBy = spec.ownedBy();
        model.capabilities.clear();
        model.capabilities.addAll(new HashSet<>(spec.capabilities()));
        model.contextLength = spec.contextLength();
        model.maxOutputTokens = spec.maxOutputTokens();
        model.priceTier = spec.priceTier();
        model.updatedAt = clock.instant();
    }

    /**
     * A concurrent writer can still take a name between the checks and the insert; the keys catch it. Any other
     * failure (the database away, say) is not a conflict.
     */
    private ModelEntity persistChecked(ModelEntity model) {
        try {
            models.persistAndFlush(model);
            return model;
        } catch (PersistenceException e) {
            if (!UNIQUE_VIOLATION.equals(DatabaseFailures.sqlState(e))) {
                throw e;
            }
            throw RegistryException.conflict(
                    "aliases", "name_conflict", "The id or an alias of '" + model.id + "' was taken concurrently.");
        }
    }
}
