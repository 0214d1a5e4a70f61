package io.flatfare.contracts.events;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The one JSON mapping of Kafka events: snake_case properties (declared on the records), instants as RFC 3339
 * strings in UTC, billing periods as {@code YYYY-MM}.
 *
 * <p>Reading is strict about values and lenient about unknown properties:
 *
 * <ul>
 *   <li>Unknown properties are ignored. Within a topic version, changes are additive only, so a consumer built
 *       against an older contracts release can still read what a newer producer writes. The JSON Schemas say
 *       {@code additionalProperties: false} because they describe exactly one release: strictness is applied
 *       deliberately where it belongs ({@link EventSchemas} in metering's intake, before the DLQ decision),
 *       not by every reader. Hence consumers that validate are upgraded before producers emit a new property.
 *   <li>No silent coercion: a float is never truncated into an integer ({@code 1.5} tokens or micros fail), strings
 *       are not parsed into numbers or booleans, a missing or null primitive fails instead of becoming 0/false,
 *       enums are not read from ordinals, duplicate keys and trailing content fail.
 *   <li>Every v1 property is required (nullable ones are written as {@code null}); the records then check their
 *       invariants.
 * </ul>
 */
public final class EventJson {

    private static final ObjectMapper MAPPER = newObjectMapper();

    private EventJson() {}

    /**
     * A new mapper with the event configuration, for frameworks that want to own an instance (e.g. a Kafka
     * serde). Prefer the static helpers otherwise.
     */
    public static ObjectMapper newObjectMapper() {
        return JsonMapper.builder()
                .addModule(new JavaTimeModule())
                .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
                .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                .build();
    }

    /** The event as UTF-8 JSON, the Kafka record value. */
    public static byte[] toJson(Object event) {
        try {
            return MAPPER.writeValueAsBytes(event);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(
                    "cannot serialise " + event.getClass().getName(), e);
        }
    }

    public static String toJsonString(Object event) {
        return new String(toJson(event), StandardCharsets.UTF_8);
    }

    /**
     * Reads an event from UTF-8 JSON.
     *
     * @throws IllegalArgumentException when the JSON is malformed, does not match the type, or breaks one of its
     *     invariants; the message says which property and why, fit for a DLQ reason
     */
    public static <T> T fromJson(byte[] json, Class<T> type) {
        try {
            return MAPPER.readValue(json, type);
        } catch (JsonProcessingException e) {
            throw invalid(type, e);
        } catch (IOException e) {
            throw new IllegalArgumentException("invalid " + type.getSimpleName() + ": " + e.getMessage(), e);
        }
    }

    public static <T> T fromJson(String json, Class<T> type) {
        try {
            return MAPPER.readValue(json, type);
        } catch (JsonProcessingException e) {
            throw invalid(type, e);
        }
    }

    /** The shared mapper; package-private because a caller reconfiguring it would change every event. */
    static ObjectMapper mapper() {
        return MAPPER;
    }

    private static IllegalArgumentException invalid(Class<?> type, JsonProcessingException e) {
        return new IllegalArgumentException("invalid " + type.getSimpleName() + ": " + describe(e), e);
    }

    private static String describe(JsonProcessingException e) {
        // A record constructor's own message is the clearest reason; Jackson wraps it.
        for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
            if (t instanceof IllegalArgumentException) {
                return t.getMessage();
            }
        }
        String message = e.getOriginalMessage();
        if (e instanceof JsonMappingException mapping) {
            String pointer = pointer(mapping);
            if (!pointer.isEmpty()) {
                return pointer + ": " + message;
            }
        }
        return message;
    }

    private static String pointer(JsonMappingException e) {
        StringBuilder pointer = new StringBuilder();
        for (JsonMappingException.Reference reference : e.getPath()) {
            pointer.append('/');
            if (reference.getFieldName() != null) {
                pointer.append(reference.getFieldName().replace("~", "~0").replace("/", "~1"));
            } else {
                pointer.append(reference.getIndex());
            }
        }
        return pointer.toString();
    }
}
