package io.flatfare.contracts.events;

/**
 * Kafka topic names and the CloudEvents (Kafka binary mode) headers every event carries.
 *
 * <p>The schema version is part of the topic name: a breaking change gets a new topic ({@code .v2}), never a
 * reinterpretation of an existing one.
 */
public final class Topics {

    /** {@link UsageEvent}s, key = account id. Gateway → metering. */
    public static final String USAGE = "flatfare.usage.v1";

    /** {@link RatedUsage} records, key = account id. Metering → finance. */
    public static final String RATED_USAGE = "flatfare.rated-usage.v1";

    /** Usage records metering could not accept, unchanged, with the {@code dead-letter-*} headers below. */
    public static final String USAGE_DLQ = "flatfare.usage.v1.dlq";

    /** The event id ({@code event_id} of the value, the request id). */
    public static final String CE_ID = "ce_id";

    /** {@link #TYPE_USAGE} or {@link #TYPE_RATED_USAGE}. */
    public static final String CE_TYPE = "ce_type";

    /** The producing service, e.g. {@link #SOURCE_GATEWAY}. */
    public static final String CE_SOURCE = "ce_source";

    /** When the occurrence happened (RFC 3339): {@code occurred_at} for usage, {@code rated_at} for rated usage. */
    public static final String CE_TIME = "ce_time";

    /** Always {@link #SPEC_VERSION}. */
    public static final String CE_SPECVERSION = "ce_specversion";

    /** The CloudEvents data content type header in Kafka binary mode; always {@link #CONTENT_TYPE_JSON}. */
    public static final String CONTENT_TYPE = "content-type";

    public static final String SPEC_VERSION = "1.0";
    public static final String CONTENT_TYPE_JSON = "application/json";

    public static final String TYPE_USAGE = "io.flatfare.usage.v1";
    public static final String TYPE_RATED_USAGE = "io.flatfare.rated-usage.v1";

    public static final String SOURCE_GATEWAY = "/flatfare/gateway-service";
    public static final String SOURCE_METERING = "/flatfare/metering-service";

    // The names SmallRye Reactive Messaging's dead-letter-queue failure strategy writes, so records sent to the
    // DLQ by hand and by the connector read the same.
    /** Why the record was rejected, e.g. {@link EventSchemas.Result#summary()}. */
    public static final String DLQ_REASON = "dead-letter-reason";

    public static final String DLQ_CAUSE = "dead-letter-cause";
    public static final String DLQ_TOPIC = "dead-letter-topic";
    public static final String DLQ_PARTITION = "dead-letter-partition";
    public static final String DLQ_OFFSET = "dead-letter-offset";

    /** The dead-letter cause of a billable event that had no price at its time: replayable once it has one. */
    public static final String DLQ_CAUSE_UNRATEABLE = "unrateable";

    /** The dead-letter cause of a record that can never be recorded (not valid against the event's schema). */
    public static final String DLQ_CAUSE_INVALID_RECORD = "invalid-record";

    /**
     * The largest usage record metering reads (key, value and header bytes together). A v1 event is a few KB at
     * most; a larger record is {@link #DLQ_CAUSE_INVALID_RECORD invalid} without being parsed, and its dead letter
     * holds only the first this many bytes of its value, without its headers ({@link #DLQ_VALUE_BYTES}): whole, it
     * may be more than a producer request can carry, and a dead letter that cannot be sent would stop the consumer.
     */
    public static final int MAX_USAGE_RECORD_BYTES = 64 * 1024;

    /**
     * On a dead letter whose value was cut ({@link #MAX_USAGE_RECORD_BYTES}): the original value's length in bytes.
     * The record itself stays on its topic, at {@link #DLQ_PARTITION} and {@link #DLQ_OFFSET}, until retention.
     */
    public static final String DLQ_VALUE_BYTES = "dead-letter-value-bytes";

    /**
     * On a usage record that metering replayed from the dead-letter topic: {@code topic/partition/offset} of the
     * dead letter it came from. The record is otherwise the one the gateway sent (the {@code dead-letter-*}
     * headers removed).
     */
    public static final String REPLAYED_FROM = "flatfare-replayed-from";

    private Topics() {}
}
