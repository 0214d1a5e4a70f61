package io.flatfare.support.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.exc.InputCoercionException;
import com.fasterxml.jackson.core.exc.StreamReadException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Collection;
import java.util.Map;

/**
 * What was wrong with a JSON body, for the error envelope: the field ({@code messages[0].role}), a message a client
 * can act on, and its code. Every API reads bodies with {@link StrictJson}, so the same mistake reads the same
 * everywhere.
 *
 * @param param the field at fault in the API's spelling, or null when the body as a whole is at fault
 * @param code {@code invalid_json} (not JSON, or not the object the endpoint takes), {@code invalid_type} (a value
 *     of the wrong JSON type) or {@code invalid_value} (right type, unusable value)
 */
public record JsonProblem(String param, String message, String code) {

    public static JsonProblem of(JsonProcessingException e) {
        String param = e instanceof JsonMappingException m ? param(m) : null;
        InputCoercionException range = Causes.find(e, InputCoercionException.class);
        if (range != null && param != null) {
            return new JsonProblem(
                    param,
                    "Invalid value for '" + param + "': the number is out of range for "
                            + expected(range.getTargetType()) + ".",
                    "invalid_value");
        }
        if (Causes.find(e, StreamReadException.class) != null) {
            return new JsonProblem(null, "The request body is not valid JSON.", "invalid_json");
        }
        if (param == null) {
            return new JsonProblem(
                    null, "The request body is not a valid JSON object for this endpoint.", "invalid_json");
        }
        if (e instanceof StrictJson.UnpairedSurrogateException) {
            return new JsonProblem(
                    param, "Invalid value for '" + param + "': " + e.getOriginalMessage() + ".", "invalid_value");
        }
        if (e instanceof MismatchedInputException mismatch) {
            // Jackson reports a refused coercion (2.5 for an integer) as an invalid format too: the JSON types
            // tell a value of the wrong type from one of the right type that does not parse (a date, an enum name).
            String expected = expected(mismatch.getTargetType());
            String got = got(mismatch);
            if (expected != null && got != null && !compatible(expected, got)) {
                return new JsonProblem(
                        param,
                        "Invalid type for '" + param + "': expected " + expected + ", but got " + got + " instead.",
                        "invalid_type");
            }
            if (!(e instanceof InvalidFormatException)) {
                return new JsonProblem(param, "Invalid type for '" + param + "'.", "invalid_type");
            }
        }
        // A creator's own check explains itself; only that direct cause is shown, never Jackson's internals.
        IllegalArgumentException reason = e.getCause() instanceof IllegalArgumentException iae ? iae : null;
        return new JsonProblem(
                param,
                "Invalid value for '" + param + "'" + (reason == null ? "." : ": " + reason.getMessage() + "."),
                "invalid_value");
    }

    /** {@code messages[0].content}: field names joined by dots, array positions in brackets. */
    static String param(JsonMappingException e) {
        StringBuilder path = new StringBuilder();
        for (JsonMappingException.Reference ref : e.getPath()) {
            if (ref.getFieldName() != null) {
                if (!path.isEmpty()) {
                    path.append('.');
                }
                path.append(ref.getFieldName());
            } else if (ref.getIndex() >= 0) {
                path.append('[').append(ref.getIndex()).append(']');
            }
        }
        return path.isEmpty() ? null : path.toString();
    }

    private static String expected(Class<?> type) {
        if (type == null || JsonNode.class.isAssignableFrom(type)) {
            return null;
        }
        if (type == Integer.class
                || type == int.class
                || type == Long.class
                || type == long.class
                || type == Short.class
                || type == short.class
                || type == BigInteger.class) {
            return "an integer";
        }
        if (type == Double.class
                || type == double.class
                || type == Float.class
                || type == float.class
                || type == BigDecimal.class) {
            return "a number";
        }
        if (type == Boolean.class || type == boolean.class) {
            return "a boolean";
        }
        if (CharSequence.class.isAssignableFrom(type) || type.isEnum()) {
            return "a string";
        }
        if (type.isArray() || Collection.class.isAssignableFrom(type)) {
            return "an array";
        }
        if (Map.class.isAssignableFrom(type)
                || !type.isPrimitive() && !type.getName().startsWith("java.")) {
            return "an object"; // a map, or one of the API's own records
        }
        return null;
    }

    private static boolean compatible(String expected, String got) {
        return expected.equals(got)
                || expected.equals("a number") && (got.equals("an integer") || got.equals("a decimal number"));
    }

    private static String got(MismatchedInputException e) {
        if (e instanceof StrictJson.WrongTypeException wrong && wrong.token() != null) {
            return switch (wrong.token()) {
                case VALUE_NUMBER_INT -> "an integer";
                case VALUE_NUMBER_FLOAT -> "a decimal number";
                case VALUE_STRING -> "a string";
                case VALUE_TRUE, VALUE_FALSE -> "a boolean";
                case START_OBJECT -> "an object";
                case START_ARRAY -> "an array";
                case VALUE_NULL -> "null";
                default -> null;
            };
        }
        // A refused coercion keeps the value it refused.
        if (e instanceof InvalidFormatException format) {
            return switch (format.getValue()) {
                case Integer i -> "an integer";
                case Long l -> "an integer";
                case BigInteger b -> "an integer";
                case Double d -> "a decimal number";
                case Float f -> "a decimal number";
                case BigDecimal b -> "a decimal number";
                case String text -> "a string";
                case Boolean b -> "a boolean";
                case null, default -> null;
            };
        }
        return null;
    }
}
