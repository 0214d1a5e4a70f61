package io.flatfare.inference.api;

import io.flatfare.inference.service.ResidentModel;
import io.flatfare.inference.service.ResidentModels;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready means every configured model is loaded and warm, and the instance is not draining. */
@Readiness
@ApplicationScoped
public class ModelsReadinessCheck implements HealthCheck {

    private final ResidentModels models;

    ModelsReadinessCheck(ResidentModels models) {
        this.models = models;
    }

    @Override
    public HealthCheckResponse call() {
        var response = HealthCheckResponse.named("Resident models").status(models.isReady());
        for (ResidentModel model : models.models()) {
            response.withData(
                    model.id(), models.isDraining() ? "DRAINING" : model.state().name());
        }
        return response.build();
    }
}
