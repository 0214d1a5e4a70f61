package io.flatfare.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.contracts.events.EventJson;
import io.flatfare.contracts.events.RatedUsage;
import io.flatfare.contracts.events.Topics;
import io.flatfare.contracts.events.UsageEvent;
import io.flatfare.testing.kafka.TopicLog;
import io.flatfare.testing.platform.LocalPlatform;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.List;
import java.util.Map;

/** The metering service seen from outside: its finance and admin APIs, and the topics it reads and writes. */
final class Metering {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String baseUrl;
    private final String financeToken;
    private final String kafka;

    Metering(String baseUrl, String financeToken, String kafkaBootstrapServers) {
        this.baseUrl = baseUrl;
        this.financeToken = financeToken;
        this.kafka = kafkaBootstrapServers;
    }

    /** The account's ledger totals for one UTC day (zeros when it has none). */
    DayTotals day(String account, LocalDate day) {
        JsonNode page = get("/finance/accounts/" + account + "/usage?granularity=day&from=" + day + "&to=" + day);
        for (JsonNode row : page.path("data")) {
            return new DayTotals(
                    row.path("requests").asLong(),
                    row.path("billable_requests").asLong(),
                    row.path("amount_micros").asLong());
        }
        return new DayTotals(0, 0, 0);
    }

    record DayTotals(long requests, long billableRequests, long amountMicros) {}

    JsonNode invoice(String account, YearMonth period) {
        return get("/finance/accounts/" + account + "/invoices/" + period);
    }

    /** The differences metering reports between these per-day counts of the account and its ledger. */
    JsonNode reconcile(String account, LocalDate day, long requests, long billableRequests) {
        Map<String, Object> body = Map.of(
                "from",
                day.toString(),
                "to",
                day.toString(),
                "rows",
                List.of(Map.of(
                        "account_id",
                        account,
                        "day",
                        day.toString(),
                        "requests",
                        requests,
                        "billable_requests",
                        billableRequests)));
        return send(
                HttpRequest.newBuilder(URI.create(baseUrl + "/finance/accounts/" + account + "/reconciliation"))
                        .header("Authorization", "Bearer " + financeToken)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(write(body))),
                200);
    }

    /** Every usage event of the account on {@code flatfare.usage.v1}, duplicates included. */
    List<UsageEvent> usageEvents(String account) {
        return TopicLog.read(kafka, Topics.USAGE).stream()
                .map(r -> EventJson.fromJson(r.value(), UsageEvent.class))
                .filter(e -> e.accountId().equals(account))
                .toList();
    }

    /** Every rated usage record of the account a {@code read_committed} consumer sees, duplicates included. */
    List<RatedUsage> ratedUsage(String account) {
        return TopicLog.read(kafka, Topics.RATED_USAGE).stream()
                .map(r -> EventJson.fromJson(r.value(), RatedUsage.class))
                .filter(e -> e.accountId().equals(account))
                .toList();
    }

    /** The reason header of every record metering dead-lettered, for failure messages. */
    List<String> deadLetterReasons() {
        return TopicLog.read(kafka, Topics.USAGE_DLQ).stream()
                .map(r -> r.headers().lastHeader(Topics.DLQ_REASON))
                .map(h -> h == null ? "(no reason)" : new String(h.value(), StandardCharsets.UTF_8))
                .toList();
    }

    private JsonNode get(String path) {
        return send(
                HttpRequest.newBuilder(URI.create(baseUrl + path))
                        .header("Authorization", "Bearer " + financeToken)
                        .GET(),
                200);
    }

    static JsonNode send(HttpRequest.Builder request, int expectedStatus) {
        HttpResponse<String> response =
                LocalPlatform.send(request.timeout(Duration.ofSeconds(30)).build());
        assertThat(response.statusCode())
                .as("%s %s: %s", response.request().method(), response.uri(), response.body())
                .isEqualTo(expectedStatus);
        try {
            return JSON.readTree(response.body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String write(Object body) {
        try {
            return JSON.writeValueAsString(body);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
