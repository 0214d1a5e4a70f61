package io.flatfare.metering.bench;

import io.flatfare.contracts.events.Endpoint;
import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.events.Topics;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.testing.kafka.KafkaServer;
import io.flatfare.testing.postgres.PostgresServer;
import io.flatfare.testing.services.ServiceProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Usage events through Kafka into the ledger (the packaged service as its own process, on a real broker and a
 * real PostgreSQL) against a baseline of plain batched JDBC inserts of the same number of ledger rows into the
 * same PostgreSQL, in one run. Prints events/s, the ratio to the baseline and the end-to-end lag (event
 * produced → rated in the transaction that commits it: {@code rated_at - occurred_at}).
 *
 * <p>Run: {@code ./mvnw -B -pl metering-service -am -Pbench -DskipTests verify} (see the module README).
 * Arguments (system properties): {@code bench.events} (1,000,000), {@code bench.accounts} (1,000),
 * {@code bench.batch} (500: the baseline's JDBC batch, a commit each), {@code bench.poll} (the service's poll batch,
 * {@code max.poll.records}; its production default unless given).
 */
public final class LedgerIngestBenchmark {

    static final String TIER = "bench-small";
    static final String ADMIN_TOKEN = "bench-admin-token";

    private LedgerIngestBenchmark() {}

    public static void main(String[] args) throws Exception {
        int events = Integer.getInteger("bench.events", 1_000_000);
        int accounts = Integer.getInteger("bench.accounts", 1_000);
        int batch = Integer.getInteger("bench.batch", 500);
        String poll = System.getProperty("bench.poll", "");
        System.out.printf(
                "metering ingest benchmark: %,d events, %,d accounts, baseline batch %d, service poll batch %s,"
                        + " %d CPUs%n",
                events,
                accounts,
                batch,
                poll.isEmpty() ? "default" : poll,
                Runtime.getRuntime().availableProcessors());
        ServiceProcess.Builder service =
                ServiceProcess.builder("metering-service", ServiceProcess.quarkusJar("metering-service"));
        if (!poll.isEmpty()) {
            service.env("FLATFARE_METERING_BATCH_SIZE", poll);
        }
        try (PostgresServer postgres = PostgresServer.start();
                KafkaServer kafka = KafkaServer.start();
                ServiceProcess metering = service.env("FLATFARE_METERING_DB_URL", postgres.jdbcUrl())
                        .env("FLATFARE_METERING_DB_USER", postgres.username())
                        .env("FLATFARE_METERING_DB_PASSWORD", postgres.password())
                        .env("FLATFARE_KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrapServers())
                        .env("FLATFARE_METERING_ADMIN_TOKEN", ADMIN_TOKEN)
                        .env("FLATFARE_METERING_FINANCE_TOKEN", "bench-finance-token")
                        .start()) {
            metering.awaitReady(Duration.ofSeconds(120));
            addPrice(metering);

            double baseline = baseline(postgres, events, accounts, batch);
            System.out.printf("baseline  plain batched JDBC insert: %,.0f rows/s%n", baseline);

            Instant started = Instant.now();
            produce(kafka, events, accounts);
            Instant produced = Instant.now();
            long seen;
            while ((seen = count(postgres, "select count(*) from usage_ledger")) < events) {
                Thread.sleep(200);
                if (!metering.isRunning()) {
                    throw new IllegalStateException("metering-service exited:\n" + metering.output());
                }
            }
            Instant done = Instant.now();
            double seconds = Duration.between(started, done).toNanos() / 1e9;
            double rate = seen / seconds;
            System.out.printf(
                    "pipeline  Kafka -> ledger: %,d events in %.1f s = %,.0f events/s (producing took %.1f s)%n",
                    seen, seconds, rate, Duration.between(started, produced).toNanos() / 1e9);
            System.out.printf("ratio     pipeline / baseline: %.2fx%n", rate / baseline);
            lag(postgres);
            System.out.printf(
                    "targets   >= 0.5x baseline: %s; >= 20,000 events/s: %s%n",
                    rate >= 0.5 * baseline ? "met" : "NOT met", rate >= 20_000 ? "met" : "NOT met");
        }
    }

    static void addPrice(ServiceProcess metering) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(metering.baseUrl() + "/admin/price-tiers/" + TIER))
                .header("Authorization", "Bearer " + ADMIN_TOKEN)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(
                        "{\"price_micros\":1000,\"currency\":\"USD\",\"effective_from\":\"2020-01-01T00:00:00Z\"}"))
                .build();
        try (HttpClient http = HttpClient.newHttpClient()) {
            int status =
                    http.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
            if (status != 201) {
                throw new IllegalStateException("Adding the price answered " + status);
            }
        }
    }

    /** Rows/s of plain batched inserts of ledger rows like the service's; the rows are removed afterwards. */
    static double baseline(PostgresServer postgres, int rows, int accounts, int batch) throws SQLException {
        Instant now = Instant.now();
        OffsetDateTime at = now.atOffset(ZoneOffset.UTC);
        LocalDate day = at.toLocalDate();
        String period = day.toString().substring(0, 7);
        long started = System.nanoTime();
        try (Connection connection = postgres.connect();
                PreparedStatement insert = connection.prepareStatement("""
                        insert into usage_ledger (event_id, account_id, api_key_id, model, price_tier, endpoint,
                            outcome, billable, occurred_at, usage_day, billing_period, plan_id, plan_version,
                            price_version, price_effective_from, unit_price_micros, amount_micros, currency,
                            included_in_plan, rated_at, source_partition, source_offset)
                        values (?, ?, ?, ?, ?, ?, ?, true, ?, ?, ?, 'payg', null, 1, ?, 1000, 1000, 'USD', false, ?,
                            0, ?)""")) {
            connection.setAutoCommit(false);
            for (int i = 0; i < rows; i++) {
                String account = "bench-acct-" + (i % accounts);
                insert.setString(1, "baseline-" + UUID.randomUUID());
                insert.setString(2, account);
                insert.setString(3, "key-" + account);
                insert.setString(4, "model-small");
                insert.setString(5, TIER);
                insert.setString(6, Endpoint.CHAT_COMPLETIONS.path());
                insert.setString(7, Outcome.COMPLETED.wireName());
                insert.setObject(8, at);
                insert.setObject(9, day);
                insert.setString(10, period);
                insert.setObject(11, at);
                insert.setObject(12, at);
                insert.setLong(13, i);
                insert.addBatch();
                if ((i + 1) % batch == 0 || i == rows - 1) {
                    insert.executeBatch();
                    connection.commit();
                }
            }
        }
        double rate = rows / ((System.nanoTime() - started) / 1e9);
        try (Connection connection = postgres.connect();
                Statement statement = connection.createStatement()) {
            statement.execute("truncate usage_ledger");
        }
        return rate;
    }

    static void produce(KafkaServer kafka, int events, int accounts) {
        try (var producer = new KafkaProducer<byte[], byte[]>(Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                kafka.bootstrapServers(),
                ProducerConfig.ACKS_CONFIG,
                "all",
                ProducerConfig.LINGER_MS_CONFIG,
                5,
                ProducerConfig.BATCH_SIZE_CONFIG,
                256 * 1024,
                ProducerConfig.COMPRESSION_TYPE_CONFIG,
                "lz4",
                ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG,
                ByteArraySerializer.class,
                ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG,
                ByteArraySerializer.class))) {
            for (int i = 0; i < events; i++) {
                String account = "bench-acct-" + (i % accounts);
                Instant now = Instant.now();
                UsageEvent event = UsageEvent.builder()
                        .eventId("bench-" + UUID.randomUUID())
                        .accountId(account)
                        .apiKeyId("key-" + account)
                        .endpoint(Endpoint.CHAT_COMPLETIONS)
                        .model("model-small")
                        .priceTier(TIER)
                        .outcome(Outcome.COMPLETED)
                        .httpStatus(200)
                        .promptTokens(12)
                        .completionTokens(20)
                        .durationMs(900)
                        .timeToFirstTokenMs(40L)
                        .queueMs(1L)
                        .instanceId("inference-0")
                        .receivedAt(now.minusMillis(900))
                        .occurredAt(now)
                        .build();
                producer.send(new ProducerRecord<>(
                        Topics.USAGE, account.getBytes(StandardCharsets.UTF_8), EventJson.toJson(event)));
            }
            producer.flush();
        }
    }

    static void lag(PostgresServer postgres) throws SQLException {
        try (Connection connection = postgres.connect();
                Statement statement = connection.createStatement();
                ResultSet result = statement.executeQuery("""
                        select percentile_cont(0.5) within group (order by l), percentile_cont(0.99) within group
                               (order by l), max(l)
                          from (select extract(epoch from rated_at - occurred_at) * 1000 as l from usage_ledger) s""")) {
            result.next();
            System.out.printf(
                    "lag       produced -> rated: p50 %,.0f ms, p99 %,.0f ms, max %,.0f ms%n",
                    result.getDouble(1), result.getDouble(2), result.getDouble(3));
        }
    }

    static long count(PostgresServer postgres, String sql) throws SQLException {
        try (Connection connection = postgres.connect();
                Statement statement = connection.createStatement();
                ResultSet result = statement.executeQuery(sql)) {
            result.next();
            return result.getLong(1);
        }
    }
}
