package io.flatfare.inference.service;

import io.flatfare.inference.engine.InferenceEngine;
import io.flatfare.inference.engine.ModelSettings;

/** Loads a model into an engine; the seam that lets the service layer be tested without native code. */
public interface EngineFactory {

    /** Loads the model, failing with a message that names the file when it is missing or unreadable. */
    InferenceEngine load(ModelSettings settings);
}
