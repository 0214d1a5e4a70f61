package io.flatfare.inference.service;

import io.flatfare.inference.config.InferenceConfig;
import io.flatfare.inference.engine.InferenceEngine;
import io.flatfare.inference.engine.ModelSettings;
import io.flatfare.inference.engine.llamacpp.LlamaCppEngine;
import jakarta.enterprise.context.ApplicationScoped;

/** Loads models with llama.cpp; the native library is set up once, before the first model. */
@ApplicationScoped
public class LlamaCppEngineFactory implements EngineFactory {

    private final InferenceConfig config;
    private volatile boolean nativeReady;

    LlamaCppEngineFactory(InferenceConfig config) {
        this.config = config;
    }

    @Override
    public InferenceEngine load(ModelSettings settings) {
        if (!nativeReady) {
            synchronized (this) {
                if (!nativeReady) {
                    LlamaCppEngine.prepareNativeLibrary(config.nativeLibraryPath(), config.nativeExtractDirectory());
                    nativeReady = true;
                }
            }
        }
        return LlamaCppEngine.load(settings);
    }
}
