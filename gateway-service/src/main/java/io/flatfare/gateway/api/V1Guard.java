package io.flatfare.gateway.api;

import io.flatfare.contracts.events.Outcome;
import io.flatfare.contracts.registry.v1.Capability;
import io.flatfare.gateway.account.ApiKeys;
import io.flatfare.gateway.account.Caller;
import io.flatfare.gateway.config.ApiConfig;
import io.flatfare.gateway.limits.Admission;
import io.flatfare.gateway.limits.RequestLimiter;
import io.flatfare.gateway.routing.ModelDirectory;
import io.flatfare.gateway.routing.ResolvedModel;
import io.flatfare.gateway.service.CallLifecycle;
import io.flatfare.gateway.service.ClientGoneException;
import io.flatfare.gateway.service.V1Call;
import io.flatfare.gateway.usage.UsageRecorder;
import io.flatfare.gateway.usage.UsageUnavailableException;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The checks every {@code /v1} request passes, in the order that leaks least and costs least: API key, then body,
 * model and plan, then the shared limits, which count only once the others passed (a request that fails them uses no
 * limit; its admission, asked for early to overlap the checks, is withdrawn). Before the limits, a request whose
 * usage event could not be kept (see {@link UsageRecorder#accepting()}) is refused. Also ends refused calls.
 */
@ApplicationScoped
public class V1Guard {

    private final ApiKeys keys;
    private final ModelDirectory models;
    private final RequestLimiter limiter;
    private final CallLifecycle lifecycle;
    private final ApiConfig config;
    private final WarmUpKey warmUpKey;
    private final UsageRecorder usage;

    V1Guard(
            ApiKeys keys,
            ModelDirectory models,
            RequestLimiter limiter,
            CallLifecycle lifecycle,
            ApiConfig config,
            WarmUpKey warmUpKey,
            UsageRecorder usage) {
        this.keys = keys;
        this.usage = usage;
        this.warmUpKey = warmUpKey;
        this.models = models;
        this.limiter = limiter;
        this.lifecycle = lifecycle;
        this.config = config;
    }

    /**
     * The caller of a {@code Authorization: Bearer <key>} header; one identical 401 for every bad key. A call
     * authenticated already keeps its caller (the header is the same request's).
     */
    public Caller authenticate(V1Call call, String authorization) {
        if (call.caller() != null) {
            return call.caller();
        }
        if (authorization == null
                || authorization.length() <= 7
                || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw OpenAiException.unauthorized();
        }
        String key = authorization.substring(7).strip();
        Optional<Caller> own = warmUpKey.caller(key);
        if (own.isPresent()) {
            call.warmUp();
        }
        Caller caller = own.or(() -> keys.authenticate(key)).orElseThrow(OpenAiException::unauthorized);
        call.caller(caller);
        return caller;
    }

    /** The model the request names, if it exists, the plan allows it, and it can do what the endpoint needs. */
    public ResolvedModel model(V1Call call, String name, Capability needed) {
        ResolvedModel model = models.resolve(name).orElseThrow(() -> OpenAiException.modelNotFound(name));
        if (!call.caller().plan().allows(model.id(), model.priceTier())) {
            // Same answer as an unknown model would leak which models exist to whom; a 403 is what the issue asks.
            throw OpenAiException.modelNotAllowed(name);
        }
        call.model(model, name);
        if (!model.capabilities().contains(needed)) {
            throw OpenAiException.invalid(
                    "model",
                    "The model '" + name + "' does not support " + describe(needed) + ".",
                    "model_not_supported");
        }
        return model;
    }

    /** Admits the request, which passed its checks, against the plan's rate, concurrency and monthly quota. Blocking. */
    public void admit(V1Call call) {
        checkUsage(call);
        call.checked(true);
        call.admission(limiter.admit(call.caller(), call.eventId()));
    }

    /**
     * Asks for the request's admission as soon as its key is known, before its body is read and checked, so that the
     * round trip to the shared limits runs while the checks do; {@link #admitting} then takes its answer. Does
     * nothing when the key is not known to the cache yet (looking it up would wait) or is not valid: the checks
     * decide then, as without this. An admission of a request that then fails its checks is withdrawn when the call
     * ends, as if it had never been asked for; the client gets the checks' error whatever the limits said.
     */
    public void admitEarly(V1Call call, String authorization) {
        Caller caller;
        try {
            caller = authenticate(call, authorization);
        } catch (RuntimeException notYet) {
            return;
        }
        CompletableFuture<Admission> early = new CompletableFuture<>();
        call.earlyAdmission(early);
        limiter.admitting(caller, call.eventId())
                .subscribe()
                .with(
                        admission -> {
                            keep(call, admission);
                            early.complete(admission);
                        },
                        early::completeExceptionally);
    }

    /**
     * {@link #admit} without blocking, for a request that passed its checks; the answer to {@link #admitEarly} when
     * it was asked for. The limiter's answer is taken even when the caller stops waiting for it (the client left
     * during the round trip): an admission is always either kept by the call, which releases it when it ends, or,
     * arriving after the call ended, released at once, so no slot or quota waits for its lease.
     */
    public Uni<Void> admitting(V1Call call) {
        checkUsage(call);
        call.checked(true);
        CompletableFuture<Admission> early = call.earlyAdmission();
        if (early != null) {
            return Uni.createFrom().completionStage(early).replaceWithVoid();
        }
        return Uni.createFrom()
                .emitter(emitter -> limiter.admitting(call.caller(), call.eventId())
                        .subscribe()
                        .with(
                                admission -> {
                                    if (keep(call, admission)) {
                                        emitter.complete(null);
                                    }
                                },
                                emitter::fail));
    }

    /**
     * Refuses a request whose usage event could not be kept, before it counts against any limit (it has not passed
     * its checks: an early admission is withdrawn). The warm-up's own requests record nothing and always pass.
     */
    private void checkUsage(V1Call call) {
        if (!call.isWarmUp() && !usage.accepting()) {
            call.unrecorded();
            throw new UsageUnavailableException();
        }
    }

    /**
     * Gives the admission to its call; false when the call ended before it arrived, and then the admission is
     * released (or withdrawn, for a call that never passed its checks) at once.
     */
    private static boolean keep(V1Call call, Admission admission) {
        call.admission(admission);
        if (!call.finished()) {
            return true;
        }
        if (call.checked()) {
            admission.releaseInBackground(false);
        } else {
            admission.withdraw();
        }
        return false;
    }

    /**
     * Ends a call that failed and returns what the client must see. A client that left gets nothing (499 in the
     * usage event); a 4xx is a rejection, a 504 a timeout, any other 5xx a platform failure.
     */
    public RuntimeException fail(V1Call call, Throwable failure, boolean inferenceStarted) {
        if (failure instanceof ClientGoneException gone) {
            lifecycle.finish(call, Outcome.CLIENT_CANCELLED, 499, inferenceStarted);
            return gone;
        }
        OpenAiException error = Failures.toOpenAi(failure, config.unavailableRetryAfter());
        lifecycle.finish(call, outcome(error.status()), error.status(), inferenceStarted);
        return error;
    }

    static Outcome outcome(int status) {
        if (status / 100 == 4) {
            return Outcome.REJECTED;
        }
        return status == 504 ? Outcome.TIMEOUT : Outcome.FAILED;
    }

    private static String describe(Capability capability) {
        return switch (capability) {
            case CHAT -> "chat completions (/v1/chat/completions)";
            case COMPLETION -> "text completions (/v1/completions)";
            case EMBEDDINGS -> "embeddings (/v1/embeddings)";
            default -> capability.name().toLowerCase(Locale.ROOT);
        };
    }
}
