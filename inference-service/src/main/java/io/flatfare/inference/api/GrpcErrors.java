package io.flatfare.inference.api;

import com.google.protobuf.Duration;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.flatfare.contracts.inference.ErrorReasons;
import io.flatfare.inference.engine.DeadlineExceededException;
import io.flatfare.inference.engine.InvalidRequestException;
import io.flatfare.inference.service.ModelUnavailableException;
import io.flatfare.inference.service.SlotsExhaustedException;
import io.flatfare.inference.service.UnknownModelException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.quarkus.logging.Log;

/**
 * The one place failures become gRPC statuses. Client errors carry an {@code ErrorInfo} (reason = the
 * OpenAI error code, metadata {@code param}); RESOURCE_EXHAUSTED carries a {@code RetryInfo}.
 */
public final class GrpcErrors {

    private GrpcErrors() {}

    public static StatusRuntimeException toStatus(Throwable failure, java.time.Duration retryAfter) {
        if (failure instanceof StatusRuntimeException s) {
            return s;
        }
        if (failure instanceof InvalidRequestException e) {
            var info = ErrorInfo.newBuilder()
                    .setDomain(ErrorReasons.DOMAIN)
                    .setReason(e.code() == null ? ErrorReasons.INVALID_VALUE : e.code());
            if (e.param() != null) {
                info.putMetadata("param", e.param());
            }
            return rich(Code.INVALID_ARGUMENT, e.getMessage(), com.google.protobuf.Any.pack(info.build()));
        }
        if (failure instanceof SlotsExhaustedException e) {
            var retry = RetryInfo.newBuilder()
                    .setRetryDelay(Duration.newBuilder()
                            .setSeconds(retryAfter.toSeconds())
                            .setNanos(retryAfter.toNanosPart()))
                    .build();
            return rich(Code.RESOURCE_EXHAUSTED, e.getMessage(), com.google.protobuf.Any.pack(retry));
        }
        if (failure instanceof UnknownModelException e) {
            return Status.NOT_FOUND.withDescription(e.getMessage()).asRuntimeException();
        }
        if (failure instanceof ModelUnavailableException e) {
            return Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException();
        }
        if (failure instanceof DeadlineExceededException e) {
            return Status.DEADLINE_EXCEEDED.withDescription(e.getMessage()).asRuntimeException();
        }
        Log.error("Inference failed", failure);
        return Status.INTERNAL.withDescription("The inference engine failed.").asRuntimeException();
    }

    private static StatusRuntimeException rich(Code code, String message, com.google.protobuf.Any detail) {
        return StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
                .setCode(code.getNumber())
                .setMessage(message)
                .addDetails(detail)
                .build());
    }
}
