package io.flatfare.gateway.limits;

import static org.assertj.core.api.Assertions.assertThat;

import io.flatfare.testing.redis.RedisServer;
import io.vertx.mutiny.core.Vertx;
import io.vertx.mutiny.redis.client.Redis;
import io.vertx.mutiny.redis.client.Response;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The admit script's calendar arithmetic (Redis has no date functions) agrees with java.time on every month. */
class CalendarScriptTest {

    private static final LuaScript MONTHS =
            new LuaScript(LuaScript.fromResources("calendar.lua").source() + """
            local out = {}
            for _, seconds in ipairs(ARGV) do
              local month, next_month_start = calendar_month(tonumber(seconds))
              out[#out + 1] = month
              out[#out + 1] = next_month_start
            end
            return out
            """);

    @Test
    void monthAndNextMonthStartMatchJavaTimeAtEveryMonthBoundaryFrom1970To2400() {
        List<Long> instants = new ArrayList<>();
        for (YearMonth month = YearMonth.of(1970, 1);
                month.isBefore(YearMonth.of(2400, 1));
                month = month.plusMonths(1)) {
            long start = month.atDay(1).atStartOfDay().toEpochSecond(ZoneOffset.UTC);
            instants.add(start);
            instants.add(start - 1);
            instants.add(start + 86_400L * 14 + 3_601);
        }
        Random random = new Random(42);
        for (int i = 0; i < 5_000; i++) {
            instants.add(random.nextLong(0, 1L << 34));
        }

        try (RedisServer server = RedisServer.start()) {
            Vertx vertx = Vertx.vertx();
            try {
                Redis redis = Redis.createClient(vertx, server.url());
                for (int from = 0; from < instants.size(); from += 2_000) {
                    List<Long> batch = instants.subList(from, Math.min(from + 2_000, instants.size()));
                    Response reply = MONTHS.run(
                                    redis,
                                    List.of(),
                                    batch.stream().map(String::valueOf).toList())
                            .await()
                            .atMost(Duration.ofSeconds(30));
                    for (int i = 0; i < batch.size(); i++) {
                        ZonedDateTime at = Instant.ofEpochSecond(batch.get(i)).atZone(ZoneOffset.UTC);
                        long nextMonthStart = YearMonth.from(at)
                                .plusMonths(1)
                                .atDay(1)
                                .atStartOfDay()
                                .toEpochSecond(ZoneOffset.UTC);
                        assertThat(reply.get(2 * i).toLong())
                                .as("month of %s", at)
                                .isEqualTo(at.getYear() * 12L + at.getMonthValue() - 1);
                        assertThat(reply.get(2 * i + 1).toLong())
                                .as("next month start after %s", at)
                                .isEqualTo(nextMonthStart);
                    }
                }
            } finally {
                vertx.closeAndAwait();
            }
        }
    }
}
