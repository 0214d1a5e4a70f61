package io.flatfare.inference.engine.llamacpp;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import de.kherud.llama.InferenceParameters;
import de.kherud.llama.LlamaModel;
import io.flatfare.inference.engine.EngineException;
import java.lang.reflect.Field;
import java.util.Map;

/**
 * Builds the JSON request the binding hands to llama.cpp's server code. The binding's typed setters cannot express
 * what the engine needs (a prompt as token ids, {@code preserved_tokens}, a {@code false} logit bias meaning
 * "never", an unsigned seed), so values are written into its parameter map directly, as JSON produced by
 * Jackson: the native side parses that JSON without catching errors, so an invalid value (NaN, Infinity) would
 * abort the JVM; every number here was validated finite before.
 */
final class NativeParameters {

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final Field PARAMETERS;
    private static final Field MODEL_CONTEXT;

    static {
        try {
            Class<?> json = Class.forName("de.kherud.llama.JsonParameters");
            PARAMETERS = json.getDeclaredField("parameters");
            PARAMETERS.setAccessible(true);
            MODEL_CONTEXT = LlamaModel.class.getDeclaredField("ctx");
            MODEL_CONTEXT.setAccessible(true);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new ExceptionInInitializerError(
                    "de.kherud:llama changed: cannot reach its parameter map or model handle: " + e);
        }
    }

    private NativeParameters() {}

    static InferenceParameters of(Map<String, Object> values) {
        InferenceParameters parameters = new InferenceParameters("");
        Map<String, String> map = map(parameters);
        for (var entry : values.entrySet()) {
            try {
                map.put(entry.getKey(), MAPPER.writeValueAsString(entry.getValue()));
            } catch (JsonProcessingException e) {
                throw new IllegalArgumentException(entry.getKey(), e);
            }
        }
        return parameters;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, String> map(InferenceParameters parameters) {
        try {
            return (Map<String, String>) PARAMETERS.get(parameters);
        } catch (IllegalAccessException e) {
            throw new EngineException("cannot write llama.cpp parameters", e);
        }
    }

    /**
     * The native handle of a loaded model; 0 when loading failed without an exception (the binding returns
     * silently when llama.cpp rejects an argument).
     */
    static long handle(LlamaModel model) {
        try {
            return MODEL_CONTEXT.getLong(model);
        } catch (IllegalAccessException e) {
            throw new EngineException("cannot read the llama.cpp model handle", e);
        }
    }
}
