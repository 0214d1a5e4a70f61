package io.flatfare.gateway.it;

import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.Topics;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.testing.kafka.TopicLog;
import java.util.List;

/** Reads the whole of {@code flatfare.usage.v1} as metering would ({@code read_committed}). */
final class UsageLog {

    private UsageLog() {}

    /**
     * Every usage event of the account written so far: the topic is read from the beginning up to its end offsets
     * as they are when this is called, so a duplicate already written cannot be missed.
     */
    static List<UsageEvent> of(String bootstrapServers, String accountId) {
        return TopicLog.read(bootstrapServers, Topics.USAGE).stream()
                .map(record -> EventJson.fromJson(record.value(), UsageEvent.class))
                .filter(event -> event.accountId().equals(accountId))
                .toList();
    }
}
