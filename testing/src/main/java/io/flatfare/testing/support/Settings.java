package io.flatfare.testing.support;

import java.util.Optional;

/**
 * Reads the {@code FLATFARE_TEST_*} switches. A system property of the same name wins over the environment variable,
 * so one build can override a developer's shell with {@code -DFLATFARE_TEST_...=...}.
 */
public final class Settings {

    private Settings() {}

    /** The setting's value, or empty when it is unset or blank. */
    public static Optional<String> get(String name) {
        String value = System.getProperty(name);
        if (value == null || value.isBlank()) {
            value = System.getenv(name);
        }
        return value == null || value.isBlank() ? Optional.empty() : Optional.of(value.trim());
    }
}
