package io.flatfare.inference.service;

import static org.assertj.core.api.Assertions.assertThat;

import io.flatfare.inference.engine.InferenceEngine;
import io.flatfare.inference.engine.ModelSettings;
import io.flatfare.inference.engine.TokenizerCost;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** What a resident model tells its callers before and after its engine is loaded. */
class ResidentModelTest {

    private final ResidentModel model = new ResidentModel(
            new ModelSettings("m", Path.of("m.gguf"), 1, 256, 1, 0, false, 1, false), 0, new SimpleMeterRegistry());

    @AfterEach
    void stop() {
        model.shutdownExecutor();
    }

    @Test
    void aModelStillLoadingHasNoTokenizerCostYet() {
        // A call can arrive while the model loads; it must be refused as UNAVAILABLE, not fail on a missing engine.
        assertThat(model.state()).isEqualTo(ResidentModel.State.LOADING);
        assertThat(model.tokenizerCost()).isEmpty();
    }

    @Test
    void aLoadedModelHasItsEnginesTokenizerCost() {
        var cost = new TokenizerCost(1_300, 0.21);
        model.loaded(engineWith(cost));

        assertThat(model.tokenizerCost()).contains(cost);
    }

    /** A unit-test double: only {@code tokenizerCost} is answered. */
    private static InferenceEngine engineWith(TokenizerCost cost) {
        return (InferenceEngine) Proxy.newProxyInstance(
                InferenceEngine.class.getClassLoader(),
                new Class<?>[] {InferenceEngine.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("tokenizerCost")) {
                        return cost;
                    }
                    throw new UnsupportedOperationException(method.getName());
                });
    }
}
