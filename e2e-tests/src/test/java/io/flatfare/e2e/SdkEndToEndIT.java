package io.flatfare.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.contracts.events.RatedUsage;
import io.flatfare.contracts.events.UsageEvent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The product as a newcomer gets it: {@code ./flatfare up}, then the official OpenAI Node SDK with the printed
 * settings (chat in both modes, completions in both modes, a response, embeddings, models, an abandoned stream, a 400
 * and a 404),
 * then the money: every request exactly once on the usage topic, every billable one exactly once in the ledger and on
 * {@code flatfare.rated-usage.v1}, the non-billable ones at no charge, metering's reconciliation against the client's
 * own counts without a difference, and the month's invoice adding up under a plan with included requests.
 */
class SdkEndToEndIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ACCOUNT = "acct_local_demo"; // the demo account ./flatfare up creates
    private static final long MONTHLY_FEE = 5_000_000;
    private static final long INCLUDED = 3;
    private static final long OVERAGE_PRICE = 2_000;
    private static final Duration ARRIVAL = Duration.ofSeconds(90);

    @Test
    void aNodeSdkClientGetsTheOpenAiApiAndEveryRequestIsBilledExactlyOnce() throws Exception {
        try (FlatfareUpRun up = FlatfareUpRun.start()) {
            Metering metering =
                    new Metering(up.meteringUrl(), up.token("metering.finance-token"), up.kafkaBootstrapServers());
            YearMonth month = YearMonth.now(ZoneOffset.UTC);
            assignPlan(up, month);

            List<Call> calls = runSdk(up.settings());

            List<String> all = calls.stream().map(Call::requestId).toList();
            List<String> billable =
                    calls.stream().filter(Call::billable).map(Call::requestId).toList();
            assertThat(all).doesNotHaveDuplicates();
            assertThat(billable).hasSize(8);
            assertThat(all).hasSize(10);

            // The gateway: one usage event per request, billable exactly where the client expects a charge.
            await().atMost(ARRIVAL).until(() -> metering.usageEvents(ACCOUNT).size() >= all.size());
            List<UsageEvent> events = metering.usageEvents(ACCOUNT);
            assertThat(events).extracting(UsageEvent::eventId).containsExactlyInAnyOrderElementsOf(all);
            Map<String, UsageEvent> byId =
                    events.stream().collect(Collectors.toMap(UsageEvent::eventId, Function.identity()));
            for (Call call : calls) {
                assertThat(byId.get(call.requestId()).billable())
                        .as("billable flag of %s", call.name())
                        .isEqualTo(call.billable());
            }
            LocalDate day = events.get(0).occurredAt().atOffset(ZoneOffset.UTC).toLocalDate();
            assertThat(events)
                    .as("all requests on one UTC day (a run across midnight cannot be checked per day)")
                    .allMatch(e -> e.occurredAt()
                            .atOffset(ZoneOffset.UTC)
                            .toLocalDate()
                            .equals(day));

            // Metering: every request in the ledger once, billable ones once on the rated-usage topic.
            await().atMost(ARRIVAL)
                    .untilAsserted(() -> assertThat(metering.day(ACCOUNT, day).requests())
                            .as("ledger requests of %s; dead letters: %s", day, metering.deadLetterReasons())
                            .isGreaterThanOrEqualTo(all.size()));
            await().atMost(ARRIVAL).until(() -> metering.ratedUsage(ACCOUNT).size() >= billable.size());
            Metering.DayTotals totals = metering.day(ACCOUNT, day);
            assertThat(totals.requests()).isEqualTo(all.size());
            assertThat(totals.billableRequests()).isEqualTo(billable.size());
            long overage = billable.size() - INCLUDED;
            assertThat(totals.amountMicros()).isEqualTo(overage * OVERAGE_PRICE);

            List<RatedUsage> rated = metering.ratedUsage(ACCOUNT);
            assertThat(rated).extracting(RatedUsage::eventId).containsExactlyInAnyOrderElementsOf(billable);
            assertThat(rated.stream().filter(RatedUsage::includedInPlan))
                    .hasSize((int) INCLUDED)
                    .allSatisfy(r -> assertThat(r.amountMicros()).isZero());
            assertThat(rated.stream().filter(r -> !r.includedInPlan()))
                    .hasSize((int) overage)
                    .allSatisfy(r -> assertThat(r.amountMicros()).isEqualTo(OVERAGE_PRICE));

            // The client's own counts reconcile with the ledger without a difference.
            JsonNode differences = metering.reconcile(ACCOUNT, day, all.size(), billable.size());
            assertThat(differences.path("data")).as(differences.toString()).isEmpty();

            JsonNode invoice = metering.invoice(ACCOUNT, YearMonth.from(day));
            assertThat(invoice.path("plan_id").asText()).isEqualTo("e2e-plan");
            assertThat(invoice.path("monthly_fee_micros").asLong()).isEqualTo(MONTHLY_FEE);
            assertThat(invoice.path("requests").asLong()).isEqualTo(all.size());
            assertThat(invoice.path("billable_requests").asLong()).isEqualTo(billable.size());
            assertThat(invoice.path("included_requests").asLong()).isEqualTo(INCLUDED);
            assertThat(invoice.path("overage_requests").asLong()).isEqualTo(overage);
            assertThat(invoice.path("usage_amount_micros").asLong()).isEqualTo(overage * OVERAGE_PRICE);
            assertThat(invoice.path("total_micros").asLong()).isEqualTo(MONTHLY_FEE + overage * OVERAGE_PRICE);
            long linesTotal = 0;
            for (JsonNode line : invoice.path("lines")) {
                assertThat(line.path("amount_micros").asLong())
                        .isEqualTo(line.path("requests").asLong()
                                * line.path("unit_price_micros").asLong());
                linesTotal += line.path("amount_micros").asLong();
            }
            assertThat(linesTotal).isEqualTo(overage * OVERAGE_PRICE);
        }
    }

    /** A plan with a fee and included requests for the demo account, in force for the whole month. */
    private static void assignPlan(FlatfareUpRun up, YearMonth month) {
        String admin = "Bearer " + up.token("metering.admin-token");
        String from = month.atDay(1).atStartOfDay().toInstant(ZoneOffset.UTC).toString();
        Metering.send(
                HttpRequest.newBuilder(URI.create(up.meteringUrl() + "/admin/plans/e2e-plan"))
                        .header("Authorization", admin)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(Metering.write(Map.of(
                                "monthly_fee_micros", MONTHLY_FEE,
                                "included_requests", INCLUDED,
                                "overage_price_micros", OVERAGE_PRICE,
                                "currency", "USD",
                                "effective_from", from)))),
                201);
        Metering.send(
                HttpRequest.newBuilder(URI.create(up.meteringUrl() + "/admin/accounts/" + ACCOUNT + "/plan"))
                        .header("Authorization", admin)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(
                                Metering.write(Map.of("plan_id", "e2e-plan", "effective_from", from)))),
                201);
    }

    /** One request the SDK script made, as it printed it. */
    private record Call(String name, String requestId, int status, boolean billable) {}

    /** Runs {@code src/test/node/e2e.mjs} with the printed settings; every check in it must pass. */
    private static List<Call> runSdk(Map<String, String> settings) throws Exception {
        Path dir = Path.of("src", "test", "node").toAbsolutePath();
        Path log = Path.of("target", "e2e-node.log").toAbsolutePath();
        ProcessBuilder node = new ProcessBuilder("node", "e2e.mjs")
                .directory(dir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile());
        node.environment().putAll(settings);
        Process process = node.start();
        boolean exited = process.waitFor(3, TimeUnit.MINUTES);
        if (!exited) {
            process.destroyForcibly();
        }
        String output = Files.readString(log);
        assertThat(exited).as("node finished; output:%n%s", output).isTrue();
        System.out.println(output);
        assertThat(process.exitValue()).as("SDK checks; output:%n%s", output).isZero();
        assertThat(output).doesNotContain("FAIL ");
        List<Call> calls = new ArrayList<>();
        for (String line : output.split("\n")) {
            if (line.startsWith("REQUEST ")) {
                calls.add(parse(line.substring("REQUEST ".length())));
            }
        }
        return calls;
    }

    private static Call parse(String json) {
        try {
            JsonNode node = JSON.readTree(json);
            return new Call(
                    node.get("name").asText(),
                    node.get("request_id").asText(),
                    node.get("status").asInt(),
                    node.get("billable").asBoolean());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
