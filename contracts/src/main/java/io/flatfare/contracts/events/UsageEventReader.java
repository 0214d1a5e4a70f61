package io.flatfare.contracts.events;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The fast path of {@link EventSchemas} for {@link UsageEvent}: one streaming pass over the JSON that checks
 * what {@code usage-event.v1.schema.json} says and builds the record, with every pattern compiled once (the
 * Vert.x validator compiles the schema's regular expressions on every call).
 *
 * <p>It is <em>sound</em>, not complete: it returns an event only when the schema validator and
 * {@link EventJson} would both accept the document and read an equal event, and {@code null} otherwise, in
 * which case the caller runs the full validator, which also names every violation. Each check here is at least
 * as strict as the schema's (see the notes below); {@code UsageEventReaderTest} runs both over a large corpus
 * of valid and mutated documents and asserts they agree.
 */
final class UsageEventReader {

    private static final JsonFactory FACTORY = EventJson.mapper().getFactory();

    /** The schema's {@code price_tier} pattern, matched whole (which implies the anchored search). */
    private static final Pattern PRICE_TIER = Pattern.compile("[a-z][a-z0-9_-]{0,63}");

    /**
     * The schema's instant pattern, matched whole. Together with {@link #plausibleClock} and a valid date it
     * implies the schema's {@code format: date-time} as well: a valid calendar date
     * and a time of day of at most 23:59:59.
     */
    private static final Pattern INSTANT =
            Pattern.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z");

    private static final String[] PROPERTIES = {
        "schema_version",
        "event_id",
        "account_id",
        "api_key_id",
        "model",
        "model_alias",
        "price_tier",
        "endpoint",
        "stream",
        "outcome",
        "billable",
        "http_status",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "n",
        "queue_ms",
        "time_to_first_token_ms",
        "duration_ms",
        "instance_id",
        "received_at",
        "occurred_at"
    };

    /** Every v1 property is required. */
    private static final int ALL = (1 << PROPERTIES.length) - 1;

    private static final Map<String, Integer> INDEX = new HashMap<>();
    private static final Map<String, Endpoint> ENDPOINTS = new HashMap<>();
    private static final Map<String, Outcome> OUTCOMES = new HashMap<>();

    static {
        for (int i = 0; i < PROPERTIES.length; i++) {
            INDEX.put(PROPERTIES[i], i);
        }
        for (Endpoint endpoint : Endpoint.values()) {
            ENDPOINTS.put(endpoint.path(), endpoint);
        }
        for (Outcome outcome : Outcome.values()) {
            OUTCOMES.put(outcome.wireName(), outcome);
        }
    }

    /** Thrown inside {@link #read} when the document is not certainly valid; never escapes. */
    private static final class NotCertain extends Exception {
        private static final NotCertain INSTANCE = new NotCertain();

        private NotCertain() {
            super(null, null, false, false);
        }
    }

    private UsageEventReader() {}

    /** The event, or {@code null} when the full validator has to decide (and explain). */
    static UsageEvent read(byte[] json) {
        try (JsonParser parser = FACTORY.createParser(json)) {
            return read(parser);
        } catch (NotCertain | IOException | IllegalArgumentException | DateTimeException e) {
            // IllegalArgumentException: the record's cross-property rules; the full path gives the reason.
            return null;
        }
    }

    private static UsageEvent read(JsonParser parser) throws IOException, NotCertain {
        if (parser.nextToken() != JsonToken.START_OBJECT) {
            throw NotCertain.INSTANCE;
        }
        int seen = 0;
        String eventId = null;
        String accountId = null;
        String apiKeyId = null;
        String model = null;
        String modelAlias = null;
        String priceTier = null;
        Endpoint endpoint = null;
        boolean stream = false;
        Outcome outcome = null;
        boolean billable = false;
        int httpStatus = 0;
        int promptTokens = 0;
        int completionTokens = 0;
        int totalTokens = 0;
        int n = 0;
        Long queueMs = null;
        Long timeToFirstTokenMs = null;
        long durationMs = 0;
        String instanceId = null;
        Instant receivedAt = null;
        Instant occurredAt = null;
        for (JsonToken token = parser.nextToken(); token != JsonToken.END_OBJECT; token = parser.nextToken()) {
            Integer index = INDEX.get(parser.currentName());
            // additionalProperties: false, and no property twice.
            if (index == null || (seen & (1 << index)) != 0) {
                throw NotCertain.INSTANCE;
            }
            seen |= 1 << index;
            parser.nextToken();
            switch (index) {
                case 0 -> {
                    if (integer(parser, 1, 1) != 1) {
                        throw NotCertain.INSTANCE;
                    }
                }
                case 1 -> eventId = id(parser, false);
                case 2 -> accountId = id(parser, false);
                case 3 -> apiKeyId = id(parser, false);
                case 4 -> model = id(parser, true);
                case 5 -> modelAlias = id(parser, true);
                case 6 -> priceTier = priceTier(parser);
                case 7 -> endpoint = known(ENDPOINTS, parser);
                case 8 -> stream = bool(parser);
                case 9 -> outcome = known(OUTCOMES, parser);
                case 10 -> billable = bool(parser);
                case 11 -> httpStatus = integer(parser, 100, 599);
                case 12 -> promptTokens = integer(parser, 0, Integer.MAX_VALUE);
                case 13 -> completionTokens = integer(parser, 0, Integer.MAX_VALUE);
                case 14 -> totalTokens = integer(parser, 0, Integer.MAX_VALUE);
                case 15 -> n = integer(parser, 1, Integer.MAX_VALUE);
                case 16 -> queueMs = optionalLong(parser);
                case 17 -> timeToFirstTokenMs = optionalLong(parser);
                case 18 -> durationMs = nonNegativeLong(parser);
                case 19 -> instanceId = id(parser, true);
                case 20 -> receivedAt = instant(parser);
                case 21 -> occurredAt = instant(parser);
                default -> throw NotCertain.INSTANCE;
            }
        }
        // Nothing may follow the object (the full path reports trailing tokens as invalid JSON).
        if (seen != ALL || parser.nextToken() != null) {
            throw NotCertain.INSTANCE;
        }
        return new UsageEvent(
                UsageEvent.SCHEMA_VERSION,
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
                totalTokens,
                n,
                queueMs,
                timeToFirstTokenMs,
                durationMs,
                instanceId,
                receivedAt,
                occurredAt);
    }

    private static String id(JsonParser parser, boolean nullable) throws IOException, NotCertain {
        if (nullable && parser.currentToken() == JsonToken.VALUE_NULL) {
            return null;
        }
        String value = string(parser);
        if (!Checks.isId(value)) {
            throw NotCertain.INSTANCE;
        }
        return value;
    }

    private static String priceTier(JsonParser parser) throws IOException, NotCertain {
        if (parser.currentToken() == JsonToken.VALUE_NULL) {
            return null;
        }
        String value = string(parser);
        if (!PRICE_TIER.matcher(value).matches()) {
            throw NotCertain.INSTANCE;
        }
        return value;
    }

    private static <E> E known(Map<String, E> values, JsonParser parser) throws IOException, NotCertain {
        E value = values.get(string(parser));
        if (value == null) {
            throw NotCertain.INSTANCE;
        }
        return value;
    }

    private static String string(JsonParser parser) throws IOException, NotCertain {
        if (parser.currentToken() != JsonToken.VALUE_STRING) {
            throw NotCertain.INSTANCE;
        }
        return parser.getText();
    }

    private static boolean bool(JsonParser parser) throws NotCertain {
        return switch (parser.currentToken()) {
            case VALUE_TRUE -> true;
            case VALUE_FALSE -> false;
            default -> throw NotCertain.INSTANCE;
        };
    }

    /**
     * An integer literal (never {@code 1.0} or {@code 1e0}, which the schema's floating-point rule rejects)
     * within {@code min..max}.
     */
    private static int integer(JsonParser parser, int min, int max) throws IOException, NotCertain {
        if (parser.currentToken() != JsonToken.VALUE_NUMBER_INT
                || parser.getNumberType() != JsonParser.NumberType.INT) {
            throw NotCertain.INSTANCE;
        }
        int value = parser.getIntValue();
        if (value < min || value > max) {
            throw NotCertain.INSTANCE;
        }
        return value;
    }

    private static Long optionalLong(JsonParser parser) throws IOException, NotCertain {
        return parser.currentToken() == JsonToken.VALUE_NULL ? null : nonNegativeLong(parser);
    }

    private static long nonNegativeLong(JsonParser parser) throws IOException, NotCertain {
        if (parser.currentToken() != JsonToken.VALUE_NUMBER_INT) {
            throw NotCertain.INSTANCE;
        }
        JsonParser.NumberType type = parser.getNumberType();
        if (type != JsonParser.NumberType.INT && type != JsonParser.NumberType.LONG) {
            throw NotCertain.INSTANCE;
        }
        long value = parser.getLongValue();
        if (value < 0) {
            throw NotCertain.INSTANCE;
        }
        return value;
    }

    private static Instant instant(JsonParser parser) throws IOException, NotCertain {
        String value = string(parser);
        if (!INSTANT.matcher(value).matches() || !plausibleClock(value)) {
            throw NotCertain.INSTANCE;
        }
        // The same instant as EventJson's ISO_INSTANT parse of this shape, without the formatter's overhead;
        // LocalDate.of rejects impossible dates (DateTimeException) as the parse does.
        LocalDate date = LocalDate.of(digits(value, 0, 4), digits(value, 5, 2), digits(value, 8, 2));
        long seconds = date.toEpochDay() * 86_400
                + digits(value, 11, 2) * 3_600L
                + digits(value, 14, 2) * 60L
                + digits(value, 17, 2);
        int nanos = 0;
        if (value.charAt(19) == '.') {
            int fraction = value.length() - 21;
            nanos = digits(value, 20, fraction) * POWERS_OF_TEN[9 - fraction];
        }
        return Instant.ofEpochSecond(seconds, nanos);
    }

    private static final int[] POWERS_OF_TEN = {1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000};

    /** The ASCII digits at {@code from} (the pattern has checked they are digits). */
    private static int digits(String value, int from, int count) {
        int result = 0;
        for (int i = from; i < from + count; i++) {
            result = result * 10 + value.charAt(i) - '0';
        }
        return result;
    }

    /**
     * Hours 00–23, minutes and seconds 00–59: Jackson's parse also takes {@code 24:00:00} and leap seconds,
     * which are left to the full validator.
     */
    private static boolean plausibleClock(String value) {
        int hour = (value.charAt(11) - '0') * 10 + value.charAt(12) - '0';
        int minute = (value.charAt(14) - '0') * 10 + value.charAt(15) - '0';
        int second = (value.charAt(17) - '0') * 10 + value.charAt(18) - '0';
        return hour <= 23 && minute <= 59 && second <= 59;
    }
}
