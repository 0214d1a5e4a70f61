package io.flatfare.metering.service;

import java.util.Map;

/**
 * What a batch did: rows added to the ledger, events already there, and events that can never be rated
 * (event id → reason), which belong in the dead-letter topic.
 */
public record BatchResult(int recorded, int duplicates, Map<String, String> unrateable) {}
