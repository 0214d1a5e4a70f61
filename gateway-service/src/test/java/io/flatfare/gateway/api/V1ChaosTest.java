package io.flatfare.gateway.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.contracts.inference.v1.InferenceServiceGrpc;
import io.flatfare.contracts.inference.v1.InfoRequest;
import io.flatfare.gateway.InferencePlatformResource;
import io.flatfare.gateway.account.Plan;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.redis.datasource.RedisDataSource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Clients that leave at random moments, several at once, from one seed: before the answer, after its headers,
 * after the first streamed chunk, in the middle of a long stream, in the middle of their own body, some with a
 * reset instead of a close; valid and invalid requests, streamed and not, under a plan whose concurrency limit they
 * exceed. Afterwards nothing is held anywhere (the slots in Redis, the gateway's in-flight requests, the inference
 * slots), every usage event is there once, every answer read to its end without an error is billed once, and the month's quota
 * counted exactly the billable events. {@code -Dfuzz.seed=N -Dfuzz.requests=M} (per client) as in
 * {@link V1FuzzTest}.
 */
@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(InferencePlatformResource.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class V1ChaosTest {

    private static final int CLIENTS = 4;

    /** How a client leaves: the moments a real client can be gone at. */
    enum Leave {
        AT_THE_END,
        AFTER_SENDING,
        AFTER_THE_HEADERS,
        AFTER_THE_FIRST_CHUNK,
        MID_STREAM,
        MID_BODY
    }

    /** {@code whole}: the answer was read to its end and carried no error (a stream can fail after its 200). */
    record Outcome(int status, String requestId, boolean whole, boolean stream, Leave leave) {}

    @Inject
    Tenants tenants;

    @Inject
    RedisDataSource redis;

    @Inject
    MeterRegistry meters;

    @TestHTTPResource("/")
    URI root;

    Tenants.Tenant tenant;
    UsageTopic usage;

    @BeforeAll
    void setUp() {
        // At most 3 at once for 4 clients: some requests are refused for the concurrency limit while others run.
        tenant = tenants.create(Set.of(Plan.ALL_MODELS), 100_000, 3, 1_000_000L, null);
        usage = new UsageTopic();
    }

    @AfterAll
    void tearDown() {
        usage.close();
    }

    @Test
    void clientsLeavingAtRandomMomentsLeaveNothingHeldAndBillingExact() throws Exception {
        long seed = Long.getLong("fuzz.seed", 20261201L);
        int perClient = Integer.getInteger("fuzz.requests", 40);
        List<Outcome> outcomes = Collections.synchronizedList(new ArrayList<>());
        ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
        try {
            List<Future<?>> running = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                Random random = new Random(seed * 31 + c);
                running.add(clients.submit(() -> {
                    for (int i = 0; i < perClient; i++) {
                        outcomes.add(exchange(random));
                    }
                    return null;
                }));
            }
            for (Future<?> client : running) {
                client.get(10, TimeUnit.MINUTES);
            }
        } finally {
            clients.shutdownNow();
        }
        Map<String, Long> summary = new java.util.TreeMap<>();
        outcomes.forEach(o -> summary.merge(o.leave() + " " + o.status(), 1L, Long::sum));
        System.out.printf("V1ChaosTest seed %d: %d requests %s%n", seed, outcomes.size(), summary);

        for (Outcome outcome : outcomes) {
            if (outcome.status() > 0) {
                assertThat(outcome.status()).as("seed %d: %s", seed, outcome).isIn(200, 400, 429, 503);
            }
        }
        assertThat(outcomes).filteredOn(o -> o.status() == 200 && o.whole()).isNotEmpty();
        assertThat(outcomes).filteredOn(o -> o.status() == 429).isNotEmpty();
        assertThat(outcomes).filteredOn(o -> o.leave() != Leave.AT_THE_END).hasSizeGreaterThan(outcomes.size() / 3);

        // Nothing held: the slots in Redis, the gateway's in-flight requests and HTTP exchanges, the inference slots
        // and queues.
        String keys = "flatfare:limits:{" + tenant.account() + "}:";
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            assertThat(redis.sortedSet(String.class).zcard(keys + "inflight"))
                    .as("slots held in Redis, seed %d", seed)
                    .isZero();
            assertThat(meters.find("flatfare.gateway.requests.in.flight").gauges().stream()
                            .mapToDouble(Gauge::value)
                            .sum())
                    .as("gateway requests in flight, seed %d", seed)
                    .isZero();
            assertThat(meters.get("flatfare.gateway.http.exchanges.open")
                            .gauge()
                            .value())
                    .as("HTTP exchanges not released, seed %d", seed)
                    .isZero();
            assertInferenceIdle(seed);
        });

        // Billing: the quota counted exactly the billable events, each event came once, and each answer read to its
        // end has its event (billable: it produced output).
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
            List<UsageEvent> events = usage.forAccount(tenant.account());
            long billable = events.stream().filter(UsageEvent::billable).count();
            // No counter at all when nothing was ever admitted.
            assertThat(java.util.Objects.requireNonNullElse(
                            redis.hash(String.class).hget(keys + "quota", "n"), "0"))
                    .as("requests the month counted against billable events, seed %d", seed)
                    .isEqualTo(Long.toString(billable));
            Map<String, UsageEvent> byId = new HashMap<>();
            for (UsageEvent event : events) {
                assertThat(byId.put(event.eventId(), event))
                        .as("event twice, seed %d", seed)
                        .isNull();
            }
            for (Outcome outcome : outcomes) {
                if (outcome.status() == 200 && outcome.whole()) {
                    assertThat(byId).as("seed %d: %s", seed, outcome).containsKey(outcome.requestId());
                    assertThat(byId.get(outcome.requestId()).billable())
                            .as("seed %d: %s", seed, outcome)
                            .isTrue();
                }
            }
        });
    }

    private void assertInferenceIdle(long seed) {
        ManagedChannel channel = ManagedChannelBuilder.forAddress(
                        "127.0.0.1", InferencePlatformResource.inference().port())
                .usePlaintext()
                .build();
        try {
            var models = InferenceServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(10, TimeUnit.SECONDS)
                    .info(InfoRequest.getDefaultInstance())
                    .getModelsList();
            for (var model : models) {
                assertThat(model.getSlotsBusy())
                        .as("%s slots busy, seed %d", model.getModel(), seed)
                        .isZero();
                assertThat(model.getQueueDepth())
                        .as("%s queue, seed %d", model.getModel(), seed)
                        .isZero();
            }
        } finally {
            channel.shutdownNow();
        }
    }

    private Outcome exchange(Random random) throws IOException {
        boolean stream = random.nextBoolean();
        boolean invalid = random.nextInt(6) == 0;
        boolean long_ = random.nextInt(4) == 0;
        String path;
        String body;
        String model = long_ ? InferencePlatformResource.LONG_MODEL : "flatfare-tiny";
        // Long generations: the end-of-generation token banned, so the client leaves while tokens still come.
        String bias = long_ ? ", \"logit_bias\": {\"261\": -100}" : "";
        int maxTokens = long_ ? 400 + random.nextInt(400) : 1 + random.nextInt(8);
        String temperature = invalid ? "5" : "0.7";
        switch (random.nextInt(3)) {
            case 0 -> {
                path = "/v1/chat/completions";
                body = """
                        {"model": "%s", "max_tokens": %d, "temperature": %s, "stream": %b%s,
                         "messages": [{"role": "user", "content": "Tell me a story."}]}""".formatted(model, maxTokens, temperature, stream, bias);
            }
            case 1 -> {
                path = "/v1/completions";
                // Half of them a batch of two prompts: two upstream calls, one after the other, that a client leaving
                // must end.
                String prompt = random.nextBoolean() ? "\"Once\"" : "[\"Once\", \"Twice\"]";
                body = """
                        {"model": "%s", "max_tokens": %d, "temperature": %s, "stream": %b%s, "prompt": %s}""".formatted(model, maxTokens, temperature, stream, bias, prompt);
            }
            default -> {
                path = "/v1/responses";
                body = """
                        {"model": "%s", "max_output_tokens": %d, "temperature": %s, "stream": %b, "store": false,
                         "input": "Tell me a story."}""".formatted(model, maxTokens, temperature, stream);
            }
        }
        Leave[] moments = Leave.values();
        Leave leave = random.nextInt(3) == 0 ? Leave.AT_THE_END : moments[random.nextInt(moments.length)];
        boolean reset = random.nextBoolean();
        byte[] content = body.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket(root.getHost(), root.getPort())) {
            socket.setSoTimeout(120_000);
            if (reset) {
                socket.setSoLinger(true, 0); // close() sends a reset instead of a FIN
            }
            OutputStream out = socket.getOutputStream();
            out.write(("POST " + path + " HTTP/1.1\r\nHost: localhost\r\nAuthorization: " + tenant.bearer()
                            + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
                            + content.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            if (leave == Leave.MID_BODY) {
                out.write(content, 0, random.nextInt(content.length));
                out.flush();
                return new Outcome(0, null, false, stream, leave);
            }
            out.write(content);
            out.flush();
            if (leave == Leave.AFTER_SENDING) {
                return new Outcome(0, null, false, stream, leave);
            }
            InputStream in = socket.getInputStream();
            String head = readHead(in);
            int status = Integer.parseInt(head.substring(9, 12));
            String requestId = header(head, "x-request-id");
            if (leave == Leave.AFTER_THE_HEADERS) {
                return new Outcome(status, requestId, false, stream, leave);
            }
            if (leave == Leave.AFTER_THE_FIRST_CHUNK || leave == Leave.MID_STREAM) {
                int wanted = leave == Leave.AFTER_THE_FIRST_CHUNK ? 1 : 2 + random.nextInt(400);
                readChunks(in, wanted);
                return new Outcome(status, requestId, false, stream, leave);
            }
            // An error's envelope, whether the answer or a stream's last event; text in content is escaped.
            boolean failed = new String(in.readAllBytes(), StandardCharsets.UTF_8).contains("\"error\"");
            return new Outcome(status, requestId, !failed, stream, leave);
        }
    }

    /** Reads up to {@code chunks} reads of the body, or to its end if that comes first. */
    private static void readChunks(InputStream in, int chunks) throws IOException {
        byte[] buffer = new byte[512];
        for (int i = 0; i < chunks && in.read(buffer) >= 0; i++) {
            // what arrives is dropped: this client leaves soon
        }
    }

    private static String readHead(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        int b;
        while (!head.toString().endsWith("\r\n\r\n") && (b = in.read()) >= 0) {
            head.append((char) b);
        }
        return head.toString();
    }

    private static String header(String head, String name) {
        for (String line : head.split("\r\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).toLowerCase(Locale.ROOT).equals(name)) {
                return line.substring(colon + 1).strip();
            }
        }
        return null;
    }
}
