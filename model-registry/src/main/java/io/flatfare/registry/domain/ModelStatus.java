package io.flatfare.registry.domain;

/** A retired model keeps its row so its id is never reused and history stays readable. */
public enum ModelStatus {
    ACTIVE,
    RETIRED
}
