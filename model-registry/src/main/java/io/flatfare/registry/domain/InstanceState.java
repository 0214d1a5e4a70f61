package io.flatfare.registry.domain;

/** Only READY instances are routed to; STARTING ones are still loading, DRAINING ones shutting down. */
public enum InstanceState {
    STARTING,
    READY,
    DRAINING
}
