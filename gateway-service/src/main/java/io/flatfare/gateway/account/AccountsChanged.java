package io.flatfare.gateway.account;

/**
 * Fired inside a transaction that changed what some key authenticates as (a revoked key, a disabled account, a
 * plan's limits); cached lookups are dropped once it commits.
 */
record AccountsChanged() {}
