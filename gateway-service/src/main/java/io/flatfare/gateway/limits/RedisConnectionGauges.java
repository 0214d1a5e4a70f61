package io.flatfare.gateway.limits;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.config.MeterFilterReply;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.util.Set;

/**
 * Leaves out the two gauges Quarkus' Vert.x metrics create for every Redis connection, {@code redis.queue.size} and
 * {@code redis.current}. They are made once per connection under its client's tags only, so a client's second
 * connection registered them again: Micrometer kept the first connection's, ignored the rest and logged a warning
 * ("This Gauge has been already registered") the first time any client's pool grew past one connection under load.
 * What they were meant to show is in the pool's gauges ({@code redis_pool_active}, {@code redis_pool_queue_size}) and
 * the command metrics ({@code redis_commands_*}); the per-connection counters and timers ({@code redis_completed},
 * {@code redis_processing} …) add up across connections and stay.
 */
public class RedisConnectionGauges {

    static final Set<String> PER_CONNECTION = Set.of("redis.queue.size", "redis.current");

    @Produces
    @Singleton
    MeterFilter withoutPerConnectionGauges() {
        return new MeterFilter() {
            @Override
            public MeterFilterReply accept(Meter.Id id) {
                return id.getType() == Meter.Type.GAUGE && PER_CONNECTION.contains(id.getName())
                        ? MeterFilterReply.DENY
                        : MeterFilterReply.NEUTRAL;
            }
        };
    }
}
