package io.flatfare.contracts.events;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.time.Instant;

/**
 * One finished request to the public API; the value of {@link Topics#USAGE} (key = {@link #accountId()}),
 * produced by the gateway once per request that was authenticated. Carries no money: metering rates it.
 *
 * <p>JSON schema: {@code schemas/usage-event.v1.schema.json}. Every property is always present; the nullable
 * ones are written as {@code null}.
 *
 * <p>The constructor enforces what billing relies on (counts, billability, status class, identifiers). Timing
 * relationships between fields are deliberately not enforced: a clock quirk must never make an event
 * impossible to build, as that would lose usage.
 *
 * @param schemaVersion always {@link #SCHEMA_VERSION}
 * @param eventId the request id ({@code x-request-id}); the idempotency key of every consumer
 * @param accountId the account the API key belongs to
 * @param apiKeyId the id (never the secret) of the API key used
 * @param model canonical model id; null only when the request failed or was rejected before the model was resolved
 * @param modelAlias the alias the client asked for when it was not the canonical id, else null
 * @param priceTier the model's flat price tier from the registry; null exactly when {@code model} is null
 * @param endpoint the API operation called
 * @param stream whether the client asked for an SSE stream
 * @param outcome how the request ended
 * @param billable {@link Outcome#isBillable(boolean)} of the outcome and whether output was produced
 * @param httpStatus the status sent to the client (200 for a stream that had started; 499 when the client left
 *     before a status was sent)
 * @param promptTokens prompt tokens processed, as the engine reports them at the end of the call (0 when inference
 *     never ran, or the call ended before that report: client gone, deadline passed, instance lost)
 * @param completionTokens tokens generated over all choices, reported likewise (0 for embeddings, and 0 when the
 *     call ended before the report even though a stream may have delivered text)
 * @param totalTokens prompt plus completion tokens
 * @param n choices requested (the {@code n} parameter; prompts × {@code n} for several prompts in one completions
 *     request); 1 where the endpoint has no choices
 * @param queueMs time spent in the engine's queue before a slot freed up, as reported by the engine; null when
 *     unknown (inference not reached, or the call ended before the engine reported)
 * @param timeToFirstTokenMs from receipt of the request to the first output token (or to the one-piece result of
 *     embeddings, transcriptions, images); null when no output was produced
 * @param durationMs from receipt of the request to its end
 * @param instanceId the inference instance that served it; null when none was reached
 * @param receivedAt when the gateway received the request
 * @param occurredAt when the request finished; decides the billing period
 */
public record UsageEvent(
        @JsonProperty(value = "schema_version", required = true)
        int schemaVersion,

        @JsonProperty(value = "event_id", required = true) String eventId,
        @JsonProperty(value = "account_id", required = true) String accountId,
        @JsonProperty(value = "api_key_id", required = true) String apiKeyId,
        @JsonProperty(value = "model", required = true) String model,

        @JsonProperty(value = "model_alias", required = true)
        String modelAlias,

        @JsonProperty(value = "price_tier", required = true) String priceTier,
        @JsonProperty(value = "endpoint", required = true) Endpoint endpoint,
        @JsonProperty(value = "stream", required = true) boolean stream,
        @JsonProperty(value = "outcome", required = true) Outcome outcome,
        @JsonProperty(value = "billable", required = true) boolean billable,

        @JsonProperty(value = "http_status", required = true)
        int httpStatus,

        @JsonProperty(value = "prompt_tokens", required = true)
        int promptTokens,

        @JsonProperty(value = "completion_tokens", required = true)
        int completionTokens,

        @JsonProperty(value = "total_tokens", required = true)
        int totalTokens,

        @JsonProperty(value = "n", required = true) int n,
        @JsonProperty(value = "queue_ms", required = true) Long queueMs,

        @JsonProperty(value = "time_to_first_token_ms", required = true)
        Long timeToFirstTokenMs,

        @JsonProperty(value = "duration_ms", required = true)
        long durationMs,

        @JsonProperty(value = "instance_id", required = true)
        String instanceId,

        @JsonProperty(value = "received_at", required = true)
        Instant receivedAt,

        @JsonProperty(value = "occurred_at", required = true)
        Instant occurredAt) {

    public static final int SCHEMA_VERSION = 1;

    public UsageEvent {
        Checks.schemaVersion(schemaVersion, SCHEMA_VERSION);
        Checks.id(eventId, "event_id");
        Checks.id(accountId, "account_id");
        Checks.id(apiKeyId, "api_key_id");
        Checks.optionalId(model, "model");
        Checks.optionalId(modelAlias, "model_alias");
        Checks.optionalPriceTier(priceTier, "price_tier");
        if ((model == null) != (priceTier == null)) {
            throw new IllegalArgumentException("model and price_tier must both be set or both be null (model " + model
                    + ", price_tier " + priceTier + ")");
        }
        if (modelAlias != null && model == null) {
            throw new IllegalArgumentException("model_alias '" + modelAlias + "' is set but model is null");
        }
        Checks.required(endpoint, "endpoint");
        Checks.required(outcome, "outcome");
        if (httpStatus < 100 || httpStatus > 599) {
            throw new IllegalArgumentException("http_status must be 100 to 599, was " + httpStatus);
        }
        if (outcome == Outcome.COMPLETED && httpStatus / 100 != 2) {
            throw new IllegalArgumentException("outcome completed needs a 2xx http_status, was " + httpStatus);
        }
        if (outcome == Outcome.REJECTED && httpStatus / 100 != 4) {
            throw new IllegalArgumentException("outcome rejected needs a 4xx http_status, was " + httpStatus);
        }
        Checks.nonNegative(promptTokens, "prompt_tokens");
        Checks.nonNegative(completionTokens, "completion_tokens");
        if ((long) promptTokens + completionTokens != totalTokens) {
            throw new IllegalArgumentException("total_tokens must be prompt_tokens + completion_tokens = "
                    + ((long) promptTokens + completionTokens) + ", was " + totalTokens);
        }
        Checks.atLeast(n, 1, "n");
        Checks.optionalNonNegative(queueMs, "queue_ms");
        Checks.optionalNonNegative(timeToFirstTokenMs, "time_to_first_token_ms");
        Checks.nonNegative(durationMs, "duration_ms");
        Checks.optionalId(instanceId, "instance_id");
        Checks.required(receivedAt, "received_at");
        Checks.required(occurredAt, "occurred_at");
        boolean expected = outcome.isBillable(timeToFirstTokenMs != null);
        if (billable != expected) {
            throw new IllegalArgumentException("billable must be " + expected + " for outcome "
                    + outcome.wireName() + (timeToFirstTokenMs == null ? " without" : " with") + " output, was "
                    + billable);
        }
        if (billable && model == null) {
            throw new IllegalArgumentException("a billable event needs model and price_tier");
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Builds a {@link UsageEvent} by name rather than by 22 positional arguments; derives {@code total_tokens} and
     * {@code billable} so that a producer cannot get them wrong.
     */
    public static final class Builder {
        private String eventId;
        private String accountId;
        private String apiKeyId;
        private String model;
        private String modelAlias;
        private String priceTier;
        private Endpoint endpoint;
        private boolean stream;
        private Outcome outcome;
        private int httpStatus;
        private int promptTokens;
        private int completionTokens;
        private int n = 1;
        private Long queueMs;
        private Long timeToFirstTokenMs;
        private long durationMs;
        private String instanceId;
        private Instant receivedAt;
        private Instant occurredAt;

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

        public Builder modelAlias(String modelAlias) {
            this.modelAlias = modelAlias;
            return this;
        }

        public Builder priceTier(String priceTier) {
            this.priceTier = priceTier;
            return this;
        }

        public Builder endpoint(Endpoint endpoint) {
            this.endpoint = endpoint;
            return this;
        }

        public Builder stream(boolean stream) {
            this.stream = stream;
            return this;
        }

        public Builder outcome(Outcome outcome) {
            this.outcome = outcome;
            return this;
        }

        public Builder httpStatus(int httpStatus) {
            this.httpStatus = httpStatus;
            return this;
        }

        public Builder promptTokens(int promptTokens) {
            this.promptTokens = promptTokens;
            return this;
        }

        public Builder completionTokens(int completionTokens) {
            this.completionTokens = completionTokens;
            return this;
        }

        public Builder n(int n) {
            this.n = n;
            return this;
        }

        public Builder queueMs(Long queueMs) {
            this.queueMs = queueMs;
            return this;
        }

        public Builder timeToFirstTokenMs(Long timeToFirstTokenMs) {
            this.timeToFirstTokenMs = timeToFirstTokenMs;
            return this;
        }

        public Builder durationMs(long durationMs) {
            this.durationMs = durationMs;
            return this;
        }

        public Builder instanceId(String instanceId) {
            this.instanceId = instanceId;
            return this;
        }

        public Builder receivedAt(Instant receivedAt) {
            this.receivedAt = receivedAt;
            return this;
        }

        public Builder occurredAt(Instant occurredAt) {
            this.occurredAt = occurredAt;
            return this;
        }

        /** @throws IllegalArgumentException when the values break an invariant of {@link UsageEvent} */
        public UsageEvent build() {
            long total = (long) promptTokens + completionTokens;
            if (total > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("prompt_tokens + completion_tokens exceeds " + Integer.MAX_VALUE);
            }
            boolean billable = outcome != null && outcome.isBillable(timeToFirstTokenMs != null);
            return new UsageEvent(
                    SCHEMA_VERSION,
                    eventId,
                    accountId,
                    apiKeyId,
                    model,
                    modelAlias,
                    priceTier,
                    endpoint,
                    stream,
                    outcome,
                    billable,
                    httpStatus,
                    promptTokens,
                    completionTokens,
                    (int) total,
                    n,
                    queueMs,
                    timeToFirstTokenMs,
                    durationMs,
                    instanceId,
                    receivedAt,
                    occurredAt);
        }
    }
}
