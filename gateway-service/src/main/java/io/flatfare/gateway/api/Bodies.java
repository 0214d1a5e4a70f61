package io.flatfare.gateway.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.gateway.service.WouldBlock;
import io.flatfare.support.api.JsonProblem;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.validation.ConstraintViolation;
import jakarta.validation.Path;
import jakarta.validation.Validator;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.NotNull;
import java.io.IOException;
import java.util.Collection;
import java.util.Comparator;
import java.util.Locale;
import java.util.Set;

/**
 * Reads and validates a {@code /v1} request body. The body is read by the endpoint (not bound by the framework) so
 * that the API key is checked first, and a bad body of an authenticated caller still produces its usage event.
 */
@ApplicationScoped
public class Bodies {

    /**
     * Bodies up to this size are read on the event loop (well under a millisecond); a larger one throws
     * {@link WouldBlock} there, so the checks run on a worker thread. An 8 MiB body of 250,000 short chat messages
     * took 0.5 to 0.8 s to read and validate: on the event loop, every other connection of that loop waited for it.
     */
    static final int EVENT_LOOP_BODY_BYTES = 64 * 1024;

    /** The constraints a null value breaks only when the field is required: absent or null, it is missing. */
    private static final Set<Class<?>> REQUIRED = Set.of(NotNull.class, NotBlank.class, NotEmpty.class);

    private final ObjectMapper json;
    private final Validator validator;

    Bodies(ObjectMapper json, Validator validator) {
        this.json = json;
        this.validator = validator;
    }

    public <T> T read(byte[] body, Class<T> type) {
        if (body == null || body.length == 0) {
            throw OpenAiException.invalid(null, "The request body is empty; send a JSON object.", "invalid_json");
        }
        if (body.length > EVENT_LOOP_BODY_BYTES) {
            WouldBlock.unlessBlockingAllowed();
        }
        T value;
        try {
            value = json.readValue(body, type);
        } catch (JsonProcessingException e) {
            JsonProblem problem = JsonProblem.of(e);
            throw OpenAiException.invalid(problem.param(), problem.message(), problem.code());
        } catch (IOException e) {
            throw OpenAiException.invalid(null, "The request body could not be read.", "invalid_json");
        }
        if (value == null) {
            throw OpenAiException.invalid(null, "The request body must be a JSON object.", "invalid_json");
        }
        var violation = validator.validate(value).stream()
                .min(Comparator.comparing(
                        (ConstraintViolation<T> v) -> v.getPropertyPath().toString()));
        if (violation.isPresent()) {
            String param = param(violation.get().getPropertyPath());
            Object invalid = violation.get().getInvalidValue();
            if (invalid == null && REQUIRED.contains(annotation(violation.get()))) {
                throw OpenAiException.missing(param);
            }
            if (invalid instanceof Collection<?> list && list.isEmpty()) {
                throw OpenAiException.emptyArray(param);
            }
            throw OpenAiException.invalid(
                    param,
                    "Invalid value for '" + param + "': " + violation.get().getMessage() + ".");
        }
        return value;
    }

    private static Class<?> annotation(ConstraintViolation<?> violation) {
        return violation.getConstraintDescriptor().getAnnotation().annotationType();
    }

    /** {@code messages[0].role} in the API's snake_case spelling; map entries as {@code logit_bias[123]}. */
    static String param(Path path) {
        StringBuilder out = new StringBuilder();
        for (Path.Node node : path) {
            // The index or key of a node is that of the container it sits in, so it comes before its name.
            if (node.isInIterable()) {
                if (node.getIndex() != null) {
                    out.append('[').append(node.getIndex()).append(']');
                } else if (node.getKey() != null) {
                    out.append('[').append(node.getKey()).append(']');
                }
            }
            String name = node.getName();
            if (name != null && !name.startsWith("<")) {
                if (!out.isEmpty()) {
                    out.append('.');
                }
                out.append(snake(name));
            }
        }
        return out.toString();
    }

    static String snake(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
    }
}
