package io.flatfare.inference;

import io.flatfare.inference.gguf.TinyLlamaModel;
import io.flatfare.inference.gguf.TinyLlamaSpec;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Generates the tiny model into {@code target/} and configures the service with it: {@code flatfare-tiny}
 * for generation (2 slots, a queue of 2, 8192 tokens of context per request, so a long generation holds
 * its slot long enough to observe admission) and {@code flatfare-tiny-embed} in embeddings mode. Registry
 * registration is off; tests that need it turn it on.
 */
public class TinyModelResource implements QuarkusTestResourceLifecycleManager {

    public static final String MODEL = "flatfare-tiny";
    public static final String EMBED_MODEL = "flatfare-tiny-embed";
    public static final int SLOTS = 2;
    public static final int QUEUE = 2;
    public static final int CONTEXT = 8192;

    public static Path generate() {
        try {
            Path dir = Files.createDirectories(Path.of("target", "test-models"));
            Path model = dir.resolve("flatfare-tiny.gguf");
            if (!Files.exists(model)) {
                TinyLlamaModel.write(TinyLlamaSpec.defaults().withContextLength(CONTEXT), model);
            }
            return model.toAbsolutePath();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public Map<String, String> start() {
        Path model = generate();
        var config = new HashMap<String, String>();
        config.put("flatfare.inference.models." + MODEL + ".path", model.toString());
        config.put("flatfare.inference.models." + MODEL + ".slots", String.valueOf(SLOTS));
        config.put("flatfare.inference.models." + MODEL + ".queue", String.valueOf(QUEUE));
        config.put("flatfare.inference.models." + MODEL + ".context", String.valueOf(CONTEXT));
        config.put("flatfare.inference.models." + EMBED_MODEL + ".path", model.toString());
        config.put("flatfare.inference.models." + EMBED_MODEL + ".embeddings", "true");
        config.put("flatfare.inference.models." + EMBED_MODEL + ".slots", "1");
        config.put("flatfare.inference.models." + EMBED_MODEL + ".context", "512");
        config.put(
                "flatfare.inference.native-extract-directory",
                Path.of("target", "native").toAbsolutePath().toString());
        config.put("flatfare.inference.registry.enabled", "false");
        return config;
    }

    @Override
    public void stop() {}
}
