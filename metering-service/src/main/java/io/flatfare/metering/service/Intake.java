package io.flatfare.metering.service;

import io.flatfare.contracts.events.UsageEvent;

/** A valid usage event and where it was read from (kept in the ledger for audits and reconciliation). */
public record Intake(UsageEvent event, int partition, long offset) {}
