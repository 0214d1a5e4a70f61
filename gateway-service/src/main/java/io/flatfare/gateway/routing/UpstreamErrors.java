package io.flatfare.gateway.routing;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.flatfare.contracts.inference.ErrorReasons;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** The one place gRPC failures of inference calls become {@link UpstreamException}s. */
final class UpstreamErrors {

    private static final Duration DEFAULT_RETRY_AFTER = Duration.ofSeconds(1);

    /** A failed attempt that may be tried on another instance. */
    record Failure(Status status, Metadata trailers) {}

    private UpstreamErrors() {}

    /** Whether trying another instance may help: the call never reached a model, or it was full. */
    static boolean isRetryable(Status status, Metadata trailers) {
        return status.getCode() == Status.Code.UNAVAILABLE || isFull(status, trailers);
    }

    /**
     * Inference's "slots and queue full" is RESOURCE_EXHAUSTED with a RetryInfo. gRPC itself also uses
     * RESOURCE_EXHAUSTED, without one, for a message over a size limit (the request at the instance, or the
     * answer here): no instance would take it, and a 429 would have the client retry it for ever.
     */
    private static boolean isFull(Status status, Metadata trailers) {
        return status.getCode() == Status.Code.RESOURCE_EXHAUSTED
                && detail(status, trailers, RetryInfo.class).isPresent();
    }

    /** A failure that is not retried, or that came after output was received. */
    static UpstreamException map(Status status, Metadata trailers, String model, boolean outputBegan) {
        Throwable cause = status.asRuntimeException();
        if (status.getCode() == Status.Code.DEADLINE_EXCEEDED) {
            return deadlineExceeded(cause);
        }
        if (outputBegan) {
            return new UpstreamException(
                    UpstreamException.Kind.FAILED,
                    "The model stopped before finishing the response; retry the request.",
                    null,
                    null,
                    cause);
        }
        return switch (status.getCode()) {
            case INVALID_ARGUMENT -> invalid(status, trailers, cause);
            case RESOURCE_EXHAUSTED ->
                isFull(status, trailers)
                        ? overloaded(List.of(new Failure(status, trailers)), model)
                        : new UpstreamException(
                                UpstreamException.Kind.FAILED,
                                "The model service could not take a message of this size.",
                                null,
                                null,
                                cause);
            case UNAVAILABLE -> unreachable(model, DEFAULT_RETRY_AFTER, cause);
            default ->
                new UpstreamException(
                        UpstreamException.Kind.FAILED, "The model failed to serve the request.", null, null, cause);
        };
    }

    /** Every instance tried failed with a retryable status, or none was left to try. */
    static UpstreamException exhausted(List<Failure> failures, String model, Duration noInstanceRetryAfter) {
        if (failures.isEmpty()) {
            return new UpstreamException(
                    UpstreamException.Kind.NO_INSTANCE,
                    "No instance of model '" + model + "' is ready; retry shortly.",
                    noInstanceRetryAfter,
                    null,
                    null);
        }
        boolean full = failures.stream().anyMatch(f -> f.status().getCode() == Status.Code.RESOURCE_EXHAUSTED);
        if (full) {
            return overloaded(failures, model);
        }
        return unreachable(
                model, noInstanceRetryAfter, failures.getLast().status().asRuntimeException());
    }

    static UpstreamException deadlineExceeded(Throwable cause) {
        return new UpstreamException(
                UpstreamException.Kind.DEADLINE_EXCEEDED,
                "The request timed out before the model finished.",
                null,
                null,
                cause);
    }

    /** Instances that answered were full; Retry-After is the soonest any of them expects room. */
    private static UpstreamException overloaded(List<Failure> failures, String model) {
        Duration retryAfter = failures.stream()
                .filter(f -> f.status().getCode() == Status.Code.RESOURCE_EXHAUSTED)
                .map(f -> retryDelay(f.status(), f.trailers()).orElse(DEFAULT_RETRY_AFTER))
                .min(Duration::compareTo)
                .orElse(DEFAULT_RETRY_AFTER);
        return new UpstreamException(
                UpstreamException.Kind.OVERLOADED,
                "Model '" + model + "' is at capacity; retry after a short wait.",
                RegistryModelDirectory.retryAfter(retryAfter),
                null,
                failures.getLast().status().asRuntimeException());
    }

    private static UpstreamException unreachable(String model, Duration retryAfter, Throwable cause) {
        return new UpstreamException(
                UpstreamException.Kind.NO_INSTANCE,
                "No instance of model '" + model + "' could be reached; retry shortly.",
                retryAfter,
                null,
                cause);
    }

    /** INVALID_ARGUMENT carries the engine's message for the client and an ErrorInfo naming the code and field. */
    private static UpstreamException invalid(Status status, Metadata trailers, Throwable cause) {
        Optional<ErrorInfo> info = detail(status, trailers, ErrorInfo.class);
        String param = info.map(i -> i.getMetadataMap().get("param")).orElse(null);
        String message =
                status.getDescription() == null || status.getDescription().isBlank()
                        ? "The model cannot serve the request as asked."
                        : status.getDescription();
        String reason = info.map(ErrorInfo::getReason).orElse("");
        UpstreamException.Kind kind = switch (reason) {
            case ErrorReasons.CONTEXT_LENGTH_EXCEEDED -> UpstreamException.Kind.CONTEXT_LENGTH_EXCEEDED;
            case ErrorReasons.UNSUPPORTED_PARAMETER -> UpstreamException.Kind.UNSUPPORTED;
            default -> UpstreamException.Kind.INVALID_REQUEST;
        };
        return new UpstreamException(kind, message, null, param, cause);
    }

    static Optional<Duration> retryDelay(Status status, Metadata trailers) {
        return detail(status, trailers, RetryInfo.class)
                .filter(RetryInfo::hasRetryDelay)
                .map(r -> Duration.ofSeconds(
                        r.getRetryDelay().getSeconds(), r.getRetryDelay().getNanos()));
    }

    private static <T extends com.google.protobuf.Message> Optional<T> detail(
            Status status, Metadata trailers, Class<T> type) {
        com.google.rpc.Status rich = StatusProto.fromStatusAndTrailers(status, trailers);
        if (rich == null) {
            return Optional.empty();
        }
        for (Any any : rich.getDetailsList()) {
            if (any.is(type)) {
                try {
                    return Optional.of(any.unpack(type));
                } catch (InvalidProtocolBufferException e) {
                    return Optional.empty();
                }
            }
        }
        return Optional.empty();
    }
}
