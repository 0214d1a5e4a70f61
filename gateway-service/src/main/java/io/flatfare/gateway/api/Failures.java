package io.flatfare.gateway.api;

import io.flatfare.contracts.inference.ErrorReasons;
import io.flatfare.gateway.account.AccountsUnavailableException;
import io.flatfare.gateway.limits.LimitExceededException;
import io.flatfare.gateway.limits.LimitsUnavailableException;
import io.flatfare.gateway.responses.ResponseStoreUnavailableException;
import io.flatfare.gateway.routing.UpstreamException;
import io.flatfare.gateway.usage.UsageUnavailableException;
import io.quarkus.logging.Log;
import java.time.Duration;

/** Turns every failure of a {@code /v1} request into the one {@link OpenAiException} the client sees. */
public final class Failures {

    private Failures() {}

    public static OpenAiException toOpenAi(Throwable failure, Duration unavailableRetryAfter) {
        return switch (failure) {
            case OpenAiException e -> e;
            case LimitExceededException e -> limit(e);
            case LimitsUnavailableException e ->
                unavailable("Request limits cannot be checked", "limits_unavailable", e.retryAfter());
            case UpstreamException e -> upstream(e, unavailableRetryAfter);
            case UsageUnavailableException e ->
                // The journal logs why (a failing disk, or Kafka away for long); nothing per request here.
                unavailable("Usage cannot be recorded", "usage_unavailable", unavailableRetryAfter);
            case AccountsUnavailableException e -> {
                Log.warnf("API keys unavailable: %s", e.getMessage());
                yield unavailable("API keys cannot be checked", "auth_unavailable", unavailableRetryAfter);
            }
            case ResponseStoreUnavailableException e -> {
                Log.warnf("Stored responses unavailable: %s", e.getMessage());
                yield unavailable("Stored responses cannot be reached", "storage_unavailable", unavailableRetryAfter);
            }
            default -> {
                // The client sees a generic 500; the cause stays in the log (never prompt or key text).
                Log.errorf(failure, "Unexpected failure in a /v1 request");
                yield OpenAiException.internal();
            }
        };
    }

    /** A 503 the client should retry after {@code retryAfter}: "{what} right now; please retry shortly." */
    private static OpenAiException unavailable(String what, String code, Duration retryAfter) {
        return new OpenAiException(503, "server_error", what + " right now; please retry shortly.", null, code)
                .retryAfter(retryAfter);
    }

    private static OpenAiException limit(LimitExceededException e) {
        OpenAiException error = switch (e.kind()) {
            case RATE, CONCURRENCY ->
                new OpenAiException(429, "requests", e.getMessage(), null, "rate_limit_exceeded")
                        .retryAfter(e.retryAfter());
            case QUOTA ->
                // The quota does not refill by retrying: tell the SDKs not to.
                new OpenAiException(429, "insufficient_quota", e.getMessage(), null, "insufficient_quota")
                        .header("x-should-retry", "false");
        };
        e.rate().ifPresent(rate -> RateLimitHeaders.put(rate, error.headers()));
        return error;
    }

    private static OpenAiException upstream(UpstreamException e, Duration unavailableRetryAfter) {
        return switch (e.kind()) {
            case INVALID_REQUEST -> OpenAiException.invalid(e.param(), e.getMessage());
            case UNSUPPORTED -> OpenAiException.unsupported(e.param(), e.getMessage());
            case CONTEXT_LENGTH_EXCEEDED ->
                OpenAiException.invalid(e.param(), e.getMessage(), ErrorReasons.CONTEXT_LENGTH_EXCEEDED);
            case OVERLOADED ->
                new OpenAiException(
                                429,
                                "requests",
                                "The model is at capacity right now; please retry shortly.",
                                null,
                                "model_overloaded")
                        .retryAfter(e.retryAfter().orElse(unavailableRetryAfter));
            case NO_INSTANCE ->
                new OpenAiException(
                                503,
                                "server_error",
                                "No instance of the model is ready to serve requests; please retry shortly.",
                                null,
                                "model_unavailable")
                        .retryAfter(e.retryAfter().orElse(unavailableRetryAfter));
            case DEADLINE_EXCEEDED ->
                new OpenAiException(504, "timeout", "The request timed out before it finished.", null, "timeout");
            case FAILED -> {
                // The status only (a gRPC code and the service's or transport's description), never request text.
                Log.warnf("Inference failed a request: %s", e.getCause() == null ? e.getMessage() : e.getCause());
                yield new OpenAiException(
                        502,
                        "server_error",
                        "The model server failed while processing your request.",
                        null,
                        "upstream_failed");
            }
        };
    }
}
