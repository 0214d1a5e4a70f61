package io.flatfare.support.api;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.deser.DeserializationProblemHandler;
import com.fasterxml.jackson.databind.deser.ValueInstantiator;
import com.fasterxml.jackson.databind.deser.std.JsonNodeDeserializer;
import com.fasterxml.jackson.databind.deser.std.NumberDeserializers;
import com.fasterxml.jackson.databind.deser.std.StdDeserializer;
import com.fasterxml.jackson.databind.deser.std.StringDeserializer;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.type.LogicalType;
import io.quarkus.jackson.ObjectMapperCustomizer;
import jakarta.inject.Singleton;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.EnumSet;
import java.util.Set;

/**
 * Request bodies are read as written. Jackson by default turns {@code 2.5} into 2 for an integer field, {@code "5"}
 * into 5, {@code 1} into true and {@code 5} into "5": a client's mistake would change what it asked for without a
 * word (a seed, a price, a limit). Here each is a 400 naming the field, as OpenAI answers it. Text must also be
 * Unicode: an unpaired surrogate escape ({@code "\ud800"}) would otherwise become '?' on its way to UTF-8 (gRPC,
 * PostgreSQL), silently, and protobuf logs a stack trace for every such string. And a body is one JSON value:
 * anything after it but whitespace makes it invalid JSON, where Jackson would read the first value and stop.
 */
@Singleton
public class StrictJson implements ObjectMapperCustomizer {

    @Override
    public void customize(ObjectMapper mapper) {
        configure(mapper);
    }

    public static ObjectMapper configure(ObjectMapper mapper) {
        mapper.enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS);
        // A body is one JSON value: "{...} garbage" or two objects is not JSON (Jackson stops after the first).
        mapper.enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
        mapper.addHandler(new WrongTypes());
        SimpleModule module = new SimpleModule("flatfare-strict-json")
                .addDeserializer(String.class, new UnicodeString())
                .addDeserializer(JsonNode.class, new UnicodeTree());
        EnumSet<JsonToken> integer = EnumSet.of(JsonToken.VALUE_NUMBER_INT);
        EnumSet<JsonToken> number = EnumSet.of(JsonToken.VALUE_NUMBER_INT, JsonToken.VALUE_NUMBER_FLOAT);
        EnumSet<JsonToken> bool = EnumSet.of(JsonToken.VALUE_TRUE, JsonToken.VALUE_FALSE);
        only(module, Integer.class, integer);
        only(module, int.class, integer);
        only(module, Long.class, integer);
        only(module, long.class, integer);
        only(module, Short.class, integer);
        only(module, short.class, integer);
        only(module, BigInteger.class, integer);
        only(module, Double.class, number);
        only(module, double.class, number);
        only(module, Float.class, number);
        only(module, float.class, number);
        only(module, BigDecimal.class, number);
        only(module, Boolean.class, bool);
        only(module, boolean.class, bool);
        mapper.registerModule(module);
        return mapper;
    }

    /** Thrown where a string holds an unpaired UTF-16 surrogate; {@link JsonProblem} reports it by field. */
    public static final class UnpairedSurrogateException extends MismatchedInputException {

        UnpairedSurrogateException(JsonParser parser) {
            super(parser, "the text has an unpaired UTF-16 surrogate; send valid Unicode text", String.class);
        }
    }

    /** A JSON value of another type than the field takes; {@link #token()} is what the body held there. */
    public static final class WrongTypeException extends MismatchedInputException {

        private final transient JsonToken token;

        WrongTypeException(JsonParser parser, Class<?> target, JsonToken token, String message) {
            super(parser, message, target);
            this.token = token;
        }

        public JsonToken token() {
            return token;
        }
    }

    /** Keeps the offending token, which the parser no longer holds once Jackson's exception reaches a caller. */
    private static final class WrongTypes extends DeserializationProblemHandler {

        @Override
        public Object handleUnexpectedToken(
                DeserializationContext context, JavaType target, JsonToken token, JsonParser parser, String message)
                throws IOException {
            throw new WrongTypeException(parser, target.getRawClass(), token, message);
        }

        @Override
        public Object handleMissingInstantiator(
                DeserializationContext context,
                Class<?> target,
                ValueInstantiator instantiator,
                JsonParser parser,
                String message)
                throws IOException {
            throw new WrongTypeException(parser, target, parser.currentToken(), message);
        }
    }

    static boolean wellFormed(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isSurrogate(c)) {
                if (Character.isHighSurrogate(c)
                        && i + 1 < text.length()
                        && Character.isLowSurrogate(text.charAt(i + 1))) {
                    i++;
                } else {
                    return false;
                }
            }
        }
        return true;
    }

    @SuppressWarnings("unchecked")
    private static <T> void only(SimpleModule module, Class<T> type, EnumSet<JsonToken> tokens) {
        var standard = (JsonDeserializer<T>) NumberDeserializers.find(type, type.getName());
        module.addDeserializer(type, new Only<>(type, tokens, standard));
    }

    /** Jackson's own deserializer of a scalar, for the JSON tokens of its type only: no coercion from others. */
    private static final class Only<T> extends StdDeserializer<T> {

        private final Set<JsonToken> tokens;
        private final JsonDeserializer<T> standard;

        Only(Class<T> type, Set<JsonToken> tokens, JsonDeserializer<T> standard) {
            super(type);
            this.tokens = tokens;
            this.standard = standard;
        }

        @Override
        public T deserialize(JsonParser parser, DeserializationContext context) throws IOException {
            JsonToken token = parser.currentToken();
            if (!tokens.contains(token)) {
                throw new WrongTypeException(parser, handledType(), token, "not a JSON value of this type");
            }
            return standard.deserialize(parser, context);
        }

        @Override
        public T getNullValue(DeserializationContext context) throws JsonMappingException {
            return standard.getNullValue(context);
        }

        @Override
        public Object getAbsentValue(DeserializationContext context) throws JsonMappingException {
            return standard.getAbsentValue(context);
        }

        @Override
        public LogicalType logicalType() {
            return standard.logicalType();
        }

        @Override
        public boolean isCachable() {
            return true;
        }
    }

    private static final class UnicodeString extends StringDeserializer {

        @Override
        public String deserialize(JsonParser parser, DeserializationContext context) throws IOException {
            JsonToken token = parser.currentToken();
            if (token != null && token.isScalarValue() && token != JsonToken.VALUE_STRING) {
                throw new WrongTypeException(parser, String.class, token, "not a JSON string");
            }
            String text = super.deserialize(parser, context);
            if (text != null && !wellFormed(text)) {
                throw new UnpairedSurrogateException(parser);
            }
            return text;
        }
    }

    /** A free-form JSON value (content parts, schemas, inputs): every string in it, names included. */
    private static final class UnicodeTree extends JsonDeserializer<JsonNode> {

        private final JsonNodeDeserializer tree =
                (JsonNodeDeserializer) JsonNodeDeserializer.getDeserializer(JsonNode.class);

        @Override
        public JsonNode deserialize(JsonParser parser, DeserializationContext context) throws IOException {
            JsonNode node = tree.deserialize(parser, context);
            Deque<JsonNode> pending = new ArrayDeque<>();
            pending.push(node);
            while (!pending.isEmpty()) {
                JsonNode next = pending.pop();
                if (next.isTextual() && !wellFormed(next.textValue())) {
                    throw new UnpairedSurrogateException(parser);
                }
                if (next.isObject()) {
                    for (var field : next.properties()) {
                        if (!wellFormed(field.getKey())) {
                            throw new UnpairedSurrogateException(parser);
                        }
                        pending.push(field.getValue());
                    }
                } else if (next.isArray()) {
                    next.forEach(pending::push);
                }
            }
            return node;
        }

        // Null and absent stay as Jackson's own: NullNode for null, Java null for a field left out.
        @Override
        public JsonNode getNullValue(DeserializationContext context) {
            return tree.getNullValue(context);
        }

        @Override
        public Object getAbsentValue(DeserializationContext context) {
            return tree.getAbsentValue(context);
        }

        @Override
        public boolean isCachable() {
            return true;
        }
    }
}
