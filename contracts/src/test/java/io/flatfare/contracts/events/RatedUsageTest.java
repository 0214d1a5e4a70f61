package io.flatfare.contracts.events;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.time.YearMonth;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class RatedUsageTest {

    @Test
    void serialisesToSchemaValidSnakeCaseJsonAndReadsBackEqual() {
        RatedUsage rated = Fixtures.rated().build();

        String json = EventJson.toJsonString(rated);

        assertThat(EventSchemas.validate(RatedUsage.class, json).violations()).isEmpty();
        assertThat(EventJson.fromJson(json, RatedUsage.class)).isEqualTo(rated);
        ObjectNode tree = Fixtures.tree(rated);
        assertThat(tree.get("billing_period").asText()).isEqualTo("2026-11");
        assertThat(tree.get("amount_micros").isIntegralNumber()).isTrue();
        assertThat(tree.get("amount_micros").asLong()).isEqualTo(2_000);
        assertThat(tree.get("unit_price_micros").asLong()).isEqualTo(2_000);
        assertThat(tree.get("rated_at").asText()).isEqualTo("2026-12-01T00:00:00.412Z");
        assertThat(tree.get("included_in_plan").asBoolean()).isFalse();
    }

    @Test
    void forUsageCopiesTheUsageEventAndDerivesPeriodAndAmount() {
        UsageEvent usage = Fixtures.usage().build();

        RatedUsage rated = Fixtures.rated().quantity(3).build();

        assertThat(rated.eventId()).isEqualTo(usage.eventId());
        assertThat(rated.accountId()).isEqualTo(usage.accountId());
        assertThat(rated.apiKeyId()).isEqualTo(usage.apiKeyId());
        assertThat(rated.model()).isEqualTo(usage.model());
        assertThat(rated.priceTier()).isEqualTo(usage.priceTier());
        assertThat(rated.occurredAt()).isEqualTo(usage.occurredAt());
        assertThat(rated.billingPeriod())
                .as("UTC month of 23:59:59.999 on 30 November, although it is December in UTC+1")
                .isEqualTo(YearMonth.of(2026, 11));
        assertThat(rated.amountMicros()).isEqualTo(6_000);
        assertThat(rated.schemaVersion()).isEqualTo(1);
    }

    @Test
    void includedRequestsCostNothingButKeepTheirUnitPrice() {
        RatedUsage included = Fixtures.rated().includedInPlan(true).build();

        assertThat(included.amountMicros()).isZero();
        assertThat(included.unitPriceMicros()).isEqualTo(2_000);
        String json = EventJson.toJsonString(included);
        assertThat(EventSchemas.validate(RatedUsage.class, json).valid()).isTrue();
        assertThat(EventJson.fromJson(json, RatedUsage.class)).isEqualTo(included);
    }

    @Test
    void largeAmountsStayExact() {
        RatedUsage rated =
                Fixtures.rated().unitPriceMicros(9_007_199_254_740_993L).build();

        String json = EventJson.toJsonString(rated);

        assertThat(json).contains("\"amount_micros\":9007199254740993");
        assertThat(EventSchemas.validate(RatedUsage.class, json).valid()).isTrue();
        assertThat(EventJson.fromJson(json, RatedUsage.class).amountMicros()).isEqualTo(9_007_199_254_740_993L);
    }

    @Test
    void onlyBillableUsageIsRated() {
        UsageEvent free =
                Fixtures.usage().outcome(Outcome.FAILED).httpStatus(503).build();

        assertThatThrownBy(() -> RatedUsage.forUsage(free))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("is not billable");
    }

    static Stream<Arguments> invalidRecords() {
        return Stream.of(
                invalid("null event_id", b -> b.eventId(null), "event_id must not be null"),
                invalid("null model", b -> b.model(null), "model must not be null"),
                invalid("null tier", b -> b.priceTier(null), "price_tier must not be null"),
                invalid("null plan", b -> b.planId(null), "plan_id must not be null"),
                invalid("negative price", b -> b.unitPriceMicros(-1), "unit_price_micros must be >= 0, was -1"),
                invalid("zero quantity", b -> b.quantity(0), "quantity must be >= 1, was 0"),
                invalid(
                        "amount overflow",
                        b -> b.unitPriceMicros(Long.MAX_VALUE).quantity(2),
                        "overflows a long"),
                invalid("null currency", b -> b.currency(null), "currency must not be null"),
                invalid("lower-case currency", b -> b.currency("usd"), "ISO 4217"),
                invalid("four-letter currency", b -> b.currency("USDT"), "ISO 4217"),
                invalid("zero price version", b -> b.priceVersion(0), "price_version must be >= 1, was 0"),
                invalid(
                        "price from the future",
                        b -> b.priceEffectiveFrom(Instant.parse("2026-12-01T00:00:00Z")),
                        "that price was not in effect yet"),
                invalid("null rated_at", b -> b.ratedAt(null), "rated_at must not be null"),
                invalid("null occurred_at", b -> b.occurredAt(null), "occurred_at must not be null"));
    }

    private static Arguments invalid(String name, UnaryOperator<RatedUsage.Builder> change, String message) {
        return Arguments.of(name, change, message);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalidRecords")
    void invariantsRejectBadValues(String name, UnaryOperator<RatedUsage.Builder> change, String message) {
        assertThatThrownBy(() -> change.apply(Fixtures.rated()).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }

    @Test
    void canonicalConstructorRejectsInconsistentDerivedValues() {
        RatedUsage valid = Fixtures.rated().build();

        assertThatThrownBy(() -> copy(valid, YearMonth.of(2026, 12), 2_000, false))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("billing_period must be the UTC month of occurred_at 2026-11, was 2026-12");
        assertThatThrownBy(() -> copy(valid, valid.billingPeriod(), 1_999, false))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("amount_micros must be unit_price_micros * quantity = 2000, was 1999");
        assertThatThrownBy(() -> copy(valid, valid.billingPeriod(), 2_000, true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("amount_micros must be 0 for a request included in the plan");
    }

    private static RatedUsage copy(RatedUsage r, YearMonth period, long amount, boolean included) {
        return new RatedUsage(
                r.schemaVersion(),
                r.eventId(),
                r.accountId(),
                r.apiKeyId(),
                r.model(),
                r.priceTier(),
                r.planId(),
                period,
                r.unitPriceMicros(),
                r.quantity(),
                amount,
                r.currency(),
                included,
                r.occurredAt(),
                r.ratedAt(),
                r.priceVersion(),
                r.priceEffectiveFrom());
    }
}
