package io.flatfare.gateway.routing;

import jakarta.enterprise.context.ApplicationScoped;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * Not ready until the model catalog was loaded from the registry once: before that the gateway can route nothing.
 * Afterwards it stays UP during a registry outage, since the cached view keeps serving within its staleness bound.
 */
@Readiness
@ApplicationScoped
public class RegistryHealthCheck implements HealthCheck {

    private final RegistryModelDirectory directory;

    RegistryHealthCheck(RegistryModelDirectory directory) {
        this.directory = directory;
    }

    @Override
    public HealthCheckResponse call() {
        Optional<Instant> loadedAt = directory.loadedAt();
        var response = HealthCheckResponse.named("model-registry").withData("models", directory.modelCount());
        if (loadedAt.isEmpty()) {
            return response.withData("last_refresh_age_ms", -1L).down().build();
        }
        long age = Duration.between(loadedAt.get(), Clock.systemUTC().instant()).toMillis();
        return response.withData("last_refresh_age_ms", age).up().build();
    }
}
