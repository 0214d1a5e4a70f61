package io.flatfare.metering.service;

import io.flatfare.contracts.events.RatedUsage;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a batch did: rows added to the ledger, events already there, events that can never be rated (event id →
 * reason), which belong in the dead-letter topic, and the rated usage to publish (the batch's new billable rows,
 * and those of rows recorded earlier from these very records whose publication never committed), in batch order.
 */
public record BatchResult(int recorded, int duplicates, Map<String, String> unrateable, List<RatedUsage> rated) {

    /** This batch's result followed by {@code later}'s, as if they had been one batch. */
    public BatchResult plus(BatchResult later) {
        Map<String, String> allUnrateable = new LinkedHashMap<>(unrateable);
        allUnrateable.putAll(later.unrateable);
        List<RatedUsage> allRated = new ArrayList<>(rated);
        allRated.addAll(later.rated);
        return new BatchResult(
                recorded + later.recorded,
                duplicates + later.duplicates,
                Collections.unmodifiableMap(allUnrateable),
                List.copyOf(allRated));
    }
}
