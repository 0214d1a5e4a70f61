package io.flatfare.gateway.limits;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;

import io.flatfare.gateway.limits.LimitExceededException.Kind;
import io.flatfare.gateway.limits.LimitsConfig.UnavailablePolicy;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.flatfare.testing.support.LogCapture;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.EventExecutor;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.vertx.core.Vertx;
import io.vertx.core.impl.VertxInternal;
import io.vertx.mutiny.redis.client.Command;
import io.vertx.mutiny.redis.client.Redis;
import io.vertx.mutiny.redis.client.Request;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The limiter as the application gets it: the configured Redis client, its config keys, the exported metrics. */
@QuarkusTest
@TestProfile(RequestLimiterWiringTest.RejectWhenRedisIsAway.class)
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
class RequestLimiterWiringTest {

    /**
     * The non-default policy, to see the keys reach the limiter; a generous timeout, as a busy test machine may take
     * longer than the production default for the first Redis connection.
     */
    public static class RejectWhenRedisIsAway implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of(
                    "flatfare.gateway.limits.on-redis-unavailable", "reject",
                    "flatfare.gateway.limits.redis-timeout", "10s",
                    "flatfare.gateway.limits.lease", "5m");
        }
    }

    @Inject
    RequestLimiter limiter;

    @Inject
    LimitsConfig config;

    @Inject
    RedisRequestLimiter redisLimiter;

    @Inject
    Redis redis;

    @Inject
    EventLoopRedis clients;

    @Inject
    Vertx vertx;

    @Test
    void theWarmUpCachesTheLimitScriptsInRedisAndRunsTheAdmissionLeavingNoKey() {
        redis.send(Request.cmd(Command.SCRIPT).arg("FLUSH")).await().atMost(Duration.ofSeconds(10));
        assertThat(scriptsCached()).containsExactly(0, 0);
        long admissions = scriptCalls();

        redisLimiter.warmUp();

        assertThat(scriptsCached()).containsExactly(1, 1);
        assertThat(scriptCalls()).isEqualTo(admissions + 1);
        // Its one key (a made-up account's rate) expires within a millisecond.
        await().atMost(Duration.ofSeconds(5))
                .until(() -> keys(RedisLimitStore.WARM_UP_ACCOUNT_PREFIX).isEmpty());
    }

    /** Script runs by EVALSHA since Redis started (INFO commandstats). */
    private long scriptCalls() {
        String info = redis.send(Request.cmd(Command.INFO).arg("commandstats"))
                .await()
                .atMost(Duration.ofSeconds(10))
                .toString();
        var matcher = Pattern.compile("cmdstat_evalsha:calls=(\\d+)").matcher(info);
        return matcher.find() ? Long.parseLong(matcher.group(1)) : 0;
    }

    private List<String> keys(String accountPrefix) {
        var reply = redis.send(Request.cmd(Command.KEYS).arg("flatfare:limits:{" + accountPrefix + "*"))
                .await()
                .atMost(Duration.ofSeconds(10));
        List<String> keys = new ArrayList<>();
        reply.forEach(key -> keys.add(key.toString()));
        return keys;
    }

    private List<Integer> scriptsCached() {
        var reply = redis.send(Request.cmd(Command.SCRIPT)
                        .arg("EXISTS")
                        .arg(RedisLimitStore.ADMIT.sha1())
                        .arg(RedisLimitStore.RELEASE.sha1()))
                .await()
                .atMost(Duration.ofSeconds(10));
        return List.of(reply.get(0).toInteger(), reply.get(1).toInteger());
    }

    @Test
    void keysAreReadAndTheOthersDefault() {
        assertThat(config.onRedisUnavailable()).isEqualTo(UnavailablePolicy.REJECT);
        assertThat(config.redisTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(config.lease()).isEqualTo(Duration.ofMinutes(5));
        assertThat(config.redisRetryInterval()).isEqualTo(Duration.ofSeconds(1));
        assertThat(config.concurrencyRetryAfter()).isEqualTo(Duration.ofSeconds(1));
    }

    @Test
    void limitsAreKeptInTheConfiguredRedisAndRefusalsAreCounted() {
        var caller = Gateways.caller(100, 1, 2L);
        Admission admission = limiter.admit(caller, "request-1");
        assertThat(admission.rate().orElseThrow().remaining()).isEqualTo(99);
        assertThat(SharedLimitsTest.kindOf(() -> limiter.admit(caller, "request-2")))
                .isEqualTo(Kind.CONCURRENCY);
        admission.release(true);
        limiter.admit(caller, "request-3").release(true);
        assertThat(SharedLimitsTest.kindOf(() -> limiter.admit(caller, "request-4")))
                .isEqualTo(Kind.QUOTA);

        given().get("/q/metrics")
                .then()
                .statusCode(200)
                .body(containsString("flatfare_gateway_limit_rejections_total{kind=\"quota\"} 1.0"))
                .body(containsString("flatfare_gateway_limit_rejections_total{kind=\"concurrency\"} 1.0"))
                .body(containsString("flatfare_gateway_limit_rejections_total{kind=\"rate\"} 0.0"))
                .body(containsString("flatfare_gateway_limit_fallbacks_total{policy=\"reject\"} 0.0"));
    }

    /**
     * An admission made on an event loop needs no other thread: with every other event loop held, it is still
     * decided. (A client whose connections belong to another loop cannot even send the script then.)
     */
    @Test
    void anAdmissionOnAnEventLoopIsDecidedThereWhileEveryOtherLoopIsHeld() throws Exception {
        List<EventLoop> loops = new ArrayList<>();
        for (EventExecutor executor : vertx.nettyEventLoopGroup()) {
            loops.add((EventLoop) executor);
        }
        assertThat(loops).hasSizeGreaterThan(1);
        assertThat(clients.loops()).isEqualTo(loops.size());
        var caller = Gateways.caller(1000, null, null);
        double before = redisCommands();

        for (EventLoop loop : loops) {
            CountDownLatch held = new CountDownLatch(loops.size() - 1);
            CountDownLatch release = new CountDownLatch(1);
            for (EventLoop other : loops) {
                if (other != loop) {
                    other.execute(() -> {
                        held.countDown();
                        try {
                            release.await(30, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    });
                }
            }
            try {
                assertThat(held.await(10, TimeUnit.SECONDS)).isTrue();
                CompletableFuture<Admission> admitted = new CompletableFuture<>();
                ((VertxInternal) vertx)
                        .createEventLoopContext(
                                loop, null, Thread.currentThread().getContextClassLoader())
                        .runOnContext(ignored -> redisLimiter
                                .admitting(caller, UUID.randomUUID().toString())
                                .subscribe()
                                .with(admitted::complete, admitted::completeExceptionally));
                assertThat(admitted.get(5, TimeUnit.SECONDS).rate()).isPresent();
            } finally {
                release.countDown();
            }
        }

        // The event loops' clients report to the Redis client metrics as Quarkus' own client does.
        assertThat(redisCommands()).isGreaterThanOrEqualTo(before + loops.size());
        // Off the event loops (this thread), Quarkus' own client.
        assertThat(limiter.admit(caller, "off-the-loops").rate()).isPresent();
    }

    /**
     * Each event loop's client reports its pool's and its connections' gauges under names of its own (same-named
     * gauges would be dropped but one's).
     */
    @Test
    void everyEventLoopsRedisClientHasItsOwnGauges() {
        String metrics =
                given().get("/q/metrics").then().statusCode(200).extract().asString();
        List<String> names = new ArrayList<>();
        for (int i = 0; i < clients.loops(); i++) {
            names.add("default-loop-" + i);
        }
        names.add("<default>"); // Quarkus' own client
        assertThat(labels(metrics, "redis_pool_idle", "pool_name")).containsExactlyInAnyOrderElementsOf(names);
        assertThat(labels(metrics, "redis_active_connections", "clientName"))
                .containsExactlyInAnyOrderElementsOf(names);
    }

    /**
     * A loop's client with several connections registers each meter once: Quarkus' Vert.x metrics make a client's
     * {@code redis.queue.size} and {@code redis.current} gauges per connection, so its second connection registered
     * them again and Micrometer logged "already registered" (a warning the first time in a JVM, then at debug level).
     */
    @Test
    void aLoopsClientWithSeveralConnectionsRegistersNoMeterTwice() throws Exception {
        try (LogCapture micrometer = LogCapture.lowering(MeterRegistry.class.getName(), Level.FINE)) {
            EventLoop first = (EventLoop) vertx.nettyEventLoopGroup().iterator().next();
            var caller = Gateways.caller(1000, null, null);
            List<CompletableFuture<Admission>> admitted = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                admitted.add(new CompletableFuture<>());
            }
            // Sent together from one loop: its client's pool lends each its own connection.
            ((VertxInternal) vertx)
                    .createEventLoopContext(first, null, Thread.currentThread().getContextClassLoader())
                    .runOnContext(ignored -> admitted.forEach(done -> redisLimiter
                            .admitting(caller, UUID.randomUUID().toString())
                            .subscribe()
                            .with(done::complete, done::completeExceptionally)));
            for (CompletableFuture<Admission> done : admitted) {
                assertThat(done.get(10, TimeUnit.SECONDS).rate()).isPresent();
            }
            String metrics =
                    given().get("/q/metrics").then().statusCode(200).extract().asString();
            var connections = Pattern.compile(
                            "(?m)^redis_active_connections\\{[^}]*clientName=\"default-loop-0\"[^}]*} ([0-9.E]+)$")
                    .matcher(metrics);
            assertThat(connections.find()).isTrue();
            assertThat(Double.parseDouble(connections.group(1))).isGreaterThanOrEqualTo(2);
            assertThat(micrometer.messages())
                    .noneMatch(message -> message != null && message.contains("already registered"));
        }
    }

    private static List<String> labels(String metrics, String gauge, String label) {
        var matcher = Pattern.compile("(?m)^" + gauge + "\\{[^}]*" + label + "=\"([^\"]+)\"")
                .matcher(metrics);
        List<String> values = new ArrayList<>();
        while (matcher.find()) {
            values.add(matcher.group(1));
        }
        return values;
    }

    /** Redis commands counted by the client metrics so far. */
    private static double redisCommands() {
        String metrics =
                given().get("/q/metrics").then().statusCode(200).extract().asString();
        var matcher = Pattern.compile("(?m)^redis_commands_duration_seconds_count\\{[^}]*} ([0-9.E]+)$")
                .matcher(metrics);
        double total = 0;
        while (matcher.find()) {
            total += Double.parseDouble(matcher.group(1));
        }
        return total;
    }
}
