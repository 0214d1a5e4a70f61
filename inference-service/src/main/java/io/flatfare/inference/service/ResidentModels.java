package io.flatfare.inference.service;

import io.flatfare.inference.config.InferenceConfig;
import io.flatfare.inference.engine.ModelSettings;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.logging.Log;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Event;
import jakarta.enterprise.event.Observes;
import java.time.Duration;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;

/**
 * Every configured model, loaded once at start-up and kept for the life of the process (no cold starts:
 * nothing is ever loaded on demand). Loading runs in the background so liveness answers while a large
 * model loads; readiness stays DOWN until every model is loaded and warm. A model that cannot be loaded
 * stops the process with a non-zero exit.
 */
@ApplicationScoped
public class ResidentModels {

    /**
     * Fired, synchronously, once every model is loaded and its engine warm, before the instance reports ready: its
     * observers may call the models as a client would (they are admitting by then).
     */
    public record Warming(Collection<ResidentModel> models) {}

    /** Fired once every model is loaded and warm. */
    public record AllReady(Collection<ResidentModel> models) {}

    private final InferenceConfig config;
    private final EngineFactory engines;
    private final MeterRegistry meters;
    private final Event<Warming> warming;
    private final Event<AllReady> allReady;
    private final Map<String, ResidentModel> models = new LinkedHashMap<>();
    private final CountDownLatch loaded = new CountDownLatch(1);
    private volatile boolean ready;
    private volatile boolean draining;

    ResidentModels(
            InferenceConfig config,
            EngineFactory engines,
            MeterRegistry meters,
            Event<Warming> warming,
            Event<AllReady> allReady) {
        this.config = config;
        this.engines = engines;
        this.meters = meters;
        this.warming = warming;
        this.allReady = allReady;
    }

    void onStart(@Observes StartupEvent event) {
        if (config.models().isEmpty()) {
            throw new IllegalStateException(
                    "No models configured: set flatfare.inference.models.<model-id>.path to a GGUF file.");
        }
        config.models().forEach((id, m) -> {
            var settings = new ModelSettings(
                    id,
                    m.path(),
                    m.slots(),
                    m.context(),
                    m.threads(),
                    m.gpuLayers(),
                    m.embeddings(),
                    m.maxChoices(),
                    m.flashAttention());
            models.put(id, new ResidentModel(settings, m.queue(), meters));
        });
        Thread.ofPlatform().name("model-loader").daemon(true).start(this::loadAll);
    }

    private void loadAll() {
        try {
            for (ResidentModel model : models.values()) {
                long start = System.nanoTime();
                Log.infof(
                        "Loading model %s from %s", model.id(), model.settings().path());
                model.loaded(engines.load(model.settings()));
                model.engine().warmUp();
                model.ready();
                Log.infof(
                        "Model %s is loaded and warm (%d ms, %d slots, context %d per request)",
                        model.id(),
                        Duration.ofNanos(System.nanoTime() - start).toMillis(),
                        model.settings().slots(),
                        model.contextLength());
            }
            warming.fire(new Warming(models()));
            ready = true;
            allReady.fire(new AllReady(models()));
        } catch (RuntimeException e) {
            Log.errorf("Start-up failed, the instance stops: %s", e.getMessage());
            Log.debug("Start-up failure", e);
            Quarkus.asyncExit(1);
        } finally {
            loaded.countDown();
        }
    }

    /** Stops admitting, lets in-flight work finish up to the drain timeout. Runs before other shutdown work. */
    void onStop(@Observes @Priority(1) ShutdownEvent event) {
        draining = true;
        models.values().forEach(ResidentModel::draining);
        long deadline = System.nanoTime() + config.drainTimeout().toNanos();
        while (System.nanoTime() < deadline && !models.values().stream().allMatch(ResidentModel::idle)) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        int busy = models.values().stream().mapToInt(ResidentModel::busySlots).sum();
        if (busy > 0) {
            Log.warnf("Drain timeout reached with %d generation(s) still running", busy);
        }
        models.values().forEach(ResidentModel::shutdownExecutor);
        // The binding's close() frees nothing and hangs while a stream runs, so models are not closed:
        // the process exit releases them.
    }

    /** The model, if it is serving now. */
    public ResidentModel admitting(String id) {
        ResidentModel model = models.get(id);
        if (model == null) {
            throw new UnknownModelException(id);
        }
        if (draining) {
            throw new ModelUnavailableException("This instance is shutting down; retry on another instance.");
        }
        if (model.state() != ResidentModel.State.READY) {
            throw new ModelUnavailableException("The model '" + id + "' is still loading.");
        }
        return model;
    }

    /** The model by id, whatever its state. */
    public Optional<ResidentModel> find(String id) {
        return Optional.ofNullable(models.get(id));
    }

    public Collection<ResidentModel> models() {
        return Collections.unmodifiableCollection(models.values());
    }

    public boolean isReady() {
        return ready && !draining;
    }

    public boolean isDraining() {
        return draining;
    }

    /** Waits until loading finished (successfully or not); for tests and the readiness of dependants. */
    public boolean awaitLoaded(Duration timeout) throws InterruptedException {
        return loaded.await(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    }
}
