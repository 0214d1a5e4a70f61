package io.flatfare.gateway.api;

import jakarta.inject.Singleton;
import jakarta.validation.Path;
import jakarta.validation.TraversableResolver;
import java.lang.annotation.ElementType;

/**
 * Lets Hibernate Validator reach and cascade into every property, as it does when no JPA provider is present.
 *
 * <p>With Hibernate ORM in the application, Quarkus otherwise installs a resolver that asks JPA, for every property
 * of every object validated, whether it is loaded: a lookup in Hibernate's per-class metadata cache that was 1 % of the
 * event loop's time per {@code /v1} request, for request bodies that are never entities. No entity here carries a
 * constraint or a {@code @Valid} association, so nothing lazy can be touched by validation.
 */
@Singleton
class TraverseEverything implements TraversableResolver {

    @Override
    public boolean isReachable(
            Object traversableObject,
            Path.Node traversableProperty,
            Class<?> rootBeanType,
            Path pathToTraversableObject,
            ElementType elementType) {
        return true;
    }

    @Override
    public boolean isCascadable(
            Object traversableObject,
            Path.Node traversableProperty,
            Class<?> rootBeanType,
            Path pathToTraversableObject,
            ElementType elementType) {
        return true;
    }
}
