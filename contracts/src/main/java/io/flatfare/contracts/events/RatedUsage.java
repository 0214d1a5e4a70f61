package io.flatfare.contracts.events;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;

/**
 * One billable request at its flat price; the value of {@link Topics#RATED_USAGE} (key = {@link #accountId()}),
 * produced by metering once per billable {@link UsageEvent}. This is what finance invoices from.
 *
 * <p>JSON schema: {@code schemas/rated-usage.v1.schema.json}. Money is an integer number of micro-units of
 * {@link #currency()} (1 USD = 1 000 000 micros, whatever the currency's minor unit); there is no floating point
 * anywhere. Finance must de-duplicate on {@link #eventId()}: a redelivery carries the same id and values.
 *
 * @param schemaVersion always {@link #SCHEMA_VERSION}
 * @param eventId the usage event id, i.e. the request id: the idempotency key for finance
 * @param accountId the account billed
 * @param apiKeyId the API key used, for per-key breakdowns
 * @param model canonical model id
 * @param priceTier the price tier the price was looked up for
 * @param planId the account's plan when the request finished
 * @param billingPeriod the UTC calendar month of {@code occurredAt}
 * @param unitPriceMicros the plan's per-request price for the tier, also for requests within the plan's included
 *     requests (their amount is 0)
 * @param quantity number of requests billed; 1 in v1
 * @param amountMicros {@code unitPriceMicros * quantity}, or 0 when {@code includedInPlan}
 * @param currency ISO 4217 code, three upper-case letters
 * @param includedInPlan whether the request was within the plan's included requests for the period
 * @param occurredAt when the request finished (from the usage event)
 * @param ratedAt when metering rated it
 * @param priceVersion version of the price applied (increases each time the plan's price for the tier changes)
 * @param priceEffectiveFrom when that price version took effect; never after {@code occurredAt}
 */
public record RatedUsage(
        @JsonProperty(value = "schema_version", required = true)
        int schemaVersion,

        @JsonProperty(value = "event_id", required = true) String eventId,
        @JsonProperty(value = "account_id", required = true) String accountId,
        @JsonProperty(value = "api_key_id", required = true) String apiKeyId,
        @JsonProperty(value = "model", required = true) String model,
        @JsonProperty(value = "price_tier", required = true) String priceTier,
        @JsonProperty(value = "plan_id", required = true) String planId,

        @JsonProperty(value = "billing_period", required = true)
        YearMonth billingPeriod,

        @JsonProperty(value = "unit_price_micros", required = true)
        long unitPriceMicros,

        @JsonProperty(value = "quantity", required = true) int quantity,

        @JsonProperty(value = "amount_micros", required = true)
        long amountMicros,

        @JsonProperty(value = "currency", required = true) String currency,

        @JsonProperty(value = "included_in_plan", required = true)
        boolean includedInPlan,

        @JsonProperty(value = "occurred_at", required = true)
        Instant occurredAt,

        @JsonProperty(value = "rated_at", required = true) Instant ratedAt,

        @JsonProperty(value = "price_version", required = true)
        int priceVersion,

        @JsonProperty(value = "price_effective_from", required = true)
        Instant priceEffectiveFrom) {

    public static final int SCHEMA_VERSION = 1;

    /** {@code [A-Z]{3}}, without a regex: checked for every record rated. */
    private static boolean isCurrencyCode(String currency) {
        return currency.length() == 3 && currency.chars().allMatch(c -> c >= 'A' && c <= 'Z');
    }

    public RatedUsage {
        Checks.schemaVersion(schemaVersion, SCHEMA_VERSION);
        Checks.id(eventId, "event_id");
        Checks.id(accountId, "account_id");
        Checks.id(apiKeyId, "api_key_id");
        Checks.id(model, "model");
        Checks.priceTier(priceTier, "price_tier");
        Checks.id(planId, "plan_id");
        Checks.required(billingPeriod, "billing_period");
        Checks.required(occurredAt, "occurred_at");
        Checks.required(ratedAt, "rated_at");
        Checks.required(priceEffectiveFrom, "price_effective_from");
        if (!billingPeriod.equals(billingPeriodOf(occurredAt))) {
            throw new IllegalArgumentException("billing_period must be the UTC month of occurred_at "
                    + billingPeriodOf(occurredAt) + ", was " + billingPeriod);
        }
        Checks.nonNegative(unitPriceMicros, "unit_price_micros");
        Checks.atLeast(quantity, 1, "quantity");
        long expected = amountFor(unitPriceMicros, quantity, includedInPlan);
        if (amountMicros != expected) {
            throw new IllegalArgumentException("amount_micros must be "
                    + (includedInPlan ? "0 for a request included in the plan" : "unit_price_micros * quantity")
                    + " = " + expected + ", was " + amountMicros);
        }
        Checks.required(currency, "currency");
        if (!isCurrencyCode(currency)) {
            throw new IllegalArgumentException(
                    "currency must be an ISO 4217 code of three upper-case letters, was '" + currency + "'");
        }
        Checks.atLeast(priceVersion, 1, "price_version");
        if (priceEffectiveFrom.isAfter(occurredAt)) {
            throw new IllegalArgumentException("price_effective_from " + priceEffectiveFrom + " is after occurred_at "
                    + occurredAt + ": that price was not in effect yet");
        }
    }

    /** The billing period of a request: the UTC calendar month in which it finished. */
    public static YearMonth billingPeriodOf(Instant occurredAt) {
        return YearMonth.from(occurredAt.atOffset(ZoneOffset.UTC));
    }

    /**
     * The amount of a rated request.
     *
     * @throws IllegalArgumentException when the product does not fit in a long
     */
    public static long amountFor(long unitPriceMicros, int quantity, boolean includedInPlan) {
        if (includedInPlan) {
            return 0;
        }
        try {
            return Math.multiplyExact(unitPriceMicros, quantity);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(
                    "unit_price_micros " + unitPriceMicros + " * quantity " + quantity + " overflows a long", e);
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * A builder pre-filled from the billable usage event being rated (ids, model, tier, occurred-at).
     *
     * @throws IllegalArgumentException when the usage event is not billable: only billable requests are rated
     */
    public static Builder forUsage(UsageEvent usage) {
        if (!usage.billable()) {
            throw new IllegalArgumentException("usage event " + usage.eventId() + " is not billable");
        }
        return new Builder()
                .eventId(usage.eventId())
                .accountId(usage.accountId())
                .apiKeyId(usage.apiKeyId())
                .model(usage.model())
                .priceTier(usage.priceTier())
                .occurredAt(usage.occurredAt());
    }

    /** Builds a {@link RatedUsage} by name; derives {@code billing_period} and {@code amount_micros}. */
    public static final class Builder {
        private String eventId;
        private String accountId;
        private String apiKeyId;
        private String model;
        private String priceTier;
        private String planId;
        private long unitPriceMicros;
        private int quantity = 1;
        private String currency;
        private boolean includedInPlan;
        private Instant occurredAt;
        private Instant ratedAt;
        private int priceVersion;
        private Instant priceEffectiveFrom;

        private Builder() {}

        public Builder eventId(String eventId) {
            this.eventId = eventId;
            return this;
        }

        public Builder accountId(String accountId) {
            this.accountId = accountId;
            return this;
        }

        public Builder apiKeyId(String apiKeyId) {
            this.apiKeyId = apiKeyId;
            return this;
        }

        public Builder model(String model) {
            this.model = model;
            return this;
        }

        public Builder priceTier(String priceTier) {
            this.priceTier = priceTier;
            return this;
        }

        public Builder planId(String planId) {
            this.planId = planId;
            return this;
        }

        public Builder unitPriceMicros(long unitPriceMicros) {
            this.unitPriceMicros = unitPriceMicros;
            return this;
        }

        public Builder quantity(int quantity) {
            this.quantity = quantity;
            return this;
        }

        public Builder currency(String currency) {
            this.currency = currency;
            return this;
        }

        public Builder includedInPlan(boolean includedInPlan) {
            this.includedInPlan = includedInPlan;
            return this;
        }

        public Builder occurredAt(Instant occurredAt) {
            this.occurredAt = occurredAt;
            return this;
        }

        public Builder ratedAt(Instant ratedAt) {
            this.ratedAt = ratedAt;
            return this;
        }

        public Builder priceVersion(int priceVersion) {
            this.priceVersion = priceVersion;
            return this;
        }

        public Builder priceEffectiveFrom(Instant priceEffectiveFrom) {
            this.priceEffectiveFrom = priceEffectiveFrom;
            return this;
        }

        /** @throws IllegalArgumentException when the values break an invariant of {@link RatedUsage} */
        public RatedUsage build() {
            Checks.required(occurredAt, "occurred_at");
            return new RatedUsage(
                    SCHEMA_VERSION,
                    eventId,
                    accountId,
                    apiKeyId,
                    model,
                    priceTier,
                    planId,
                    billingPeriodOf(occurredAt),
                    unitPriceMicros,
                    quantity,
                    amountFor(unitPriceMicros, quantity, includedInPlan),
                    currency,
                    includedInPlan,
                    occurredAt,
                    ratedAt,
                    priceVersion,
                    priceEffectiveFrom);
        }
    }
}
