package io.flatfare.gateway.routing;

import com.google.protobuf.Any;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.flatfare.contracts.inference.ErrorReasons;
import io.flatfare.contracts.inference.v1.ChoiceDelta;
import io.flatfare.contracts.inference.v1.EmbedRequest;
import io.flatfare.contracts.inference.v1.EmbedResponse;
import io.flatfare.contracts.inference.v1.Embedding;
import io.flatfare.contracts.inference.v1.GenerateDone;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.inference.v1.InferenceServiceGrpc;
import io.flatfare.contracts.inference.v1.Usage;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real gRPC InferenceService on a random local port whose answers each test decides: stream deltas, fail with
 * a status (with the same rich details inference sends), or hang until the caller cancels.
 */
final class FakeInference implements AutoCloseable {

    /** What the server does with one Generate call. */
    @FunctionalInterface
    interface Behaviour {
        void generate(GenerateRequest request, ServerCallStreamObserver<GenerateResponse> out);
    }

    private final Server server;
    private final AtomicInteger generateCalls = new AtomicInteger();
    private final AtomicInteger embedCalls = new AtomicInteger();
    private final AtomicInteger cancellations = new AtomicInteger();
    private final List<GenerateRequest> requests = new CopyOnWriteArrayList<>();
    private final List<Metadata> headers = new CopyOnWriteArrayList<>();
    private volatile Behaviour behaviour;

    private FakeInference(Behaviour behaviour) {
        this.behaviour = behaviour;
        try {
            this.server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .addService(ServerInterceptors.intercept(new Service(), new HeaderRecorder()))
                    .build()
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static FakeInference start(Behaviour behaviour) {
        return new FakeInference(behaviour);
    }

    int port() {
        return server.getPort();
    }

    String address() {
        return "127.0.0.1:" + port();
    }

    void behave(Behaviour next) {
        this.behaviour = next;
    }

    int generateCalls() {
        return generateCalls.get();
    }

    int embedCalls() {
        return embedCalls.get();
    }

    /** Calls the client cancelled (or whose deadline passed) while the server still served them. */
    int cancellations() {
        return cancellations.get();
    }

    List<GenerateRequest> requests() {
        return requests;
    }

    /** The request headers of every call, in arrival order. */
    List<Metadata> headers() {
        return headers;
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
    }

    static Behaviour streams(int deltas) {
        return (request, out) -> {
            for (int i = 0; i < deltas; i++) {
                out.onNext(delta("t" + i));
            }
            out.onNext(done(deltas));
            out.onCompleted();
        };
    }

    /** Leaves the call open until the client cancels it. */
    static Behaviour hangs() {
        return (request, out) -> {};
    }

    /** Sends one delta, then leaves the call open. */
    static Behaviour deltaThenHangs() {
        return (request, out) -> out.onNext(delta("first"));
    }

    static Behaviour deltaThenFails(Status status) {
        return (request, out) -> {
            out.onNext(delta("first"));
            out.onError(status.asRuntimeException());
        };
    }

    static Behaviour fails(StatusRuntimeException failure) {
        return (request, out) -> out.onError(failure);
    }

    /** RESOURCE_EXHAUSTED with a RetryInfo, as inference answers when its slots and queue are full. */
    static StatusRuntimeException exhausted(Duration retryAfter) {
        var retry = RetryInfo.newBuilder()
                .setRetryDelay(com.google.protobuf.Duration.newBuilder()
                        .setSeconds(retryAfter.toSeconds())
                        .setNanos(retryAfter.toNanosPart()))
                .build();
        return rich(Status.Code.RESOURCE_EXHAUSTED, "All slots are busy.", Any.pack(retry));
    }

    /** INVALID_ARGUMENT with an ErrorInfo, as inference answers a request it cannot serve. */
    static StatusRuntimeException invalid(String reason, String param, String message) {
        var info = ErrorInfo.newBuilder()
                .setDomain(ErrorReasons.DOMAIN)
                .setReason(reason)
                .putMetadata("param", param)
                .build();
        return rich(Status.Code.INVALID_ARGUMENT, message, Any.pack(info));
    }

    static GenerateResponse delta(String text) {
        return GenerateResponse.newBuilder()
                .setDelta(ChoiceDelta.newBuilder().setIndex(0).setText(text))
                .build();
    }

    private static GenerateResponse done(int tokens) {
        return GenerateResponse.newBuilder()
                .setDone(GenerateDone.newBuilder()
                        .setUsage(Usage.newBuilder()
                                .setPromptTokens(3)
                                .setCompletionTokens(tokens)
                                .setTotalTokens(3 + tokens)))
                .build();
    }

    private static StatusRuntimeException rich(Status.Code code, String message, Any detail) {
        return StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
                .setCode(code.value())
                .setMessage(message)
                .addDetails(detail)
                .build());
    }

    private final class HeaderRecorder implements ServerInterceptor {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(
                ServerCall<Q, R> call, Metadata metadata, ServerCallHandler<Q, R> next) {
            headers.add(metadata);
            return next.startCall(call, metadata);
        }
    }

    private final class Service extends InferenceServiceGrpc.InferenceServiceImplBase {

        @Override
        public void generate(GenerateRequest request, StreamObserver<GenerateResponse> responseObserver) {
            var out = (ServerCallStreamObserver<GenerateResponse>) responseObserver;
            out.setOnCancelHandler(cancellations::incrementAndGet);
            generateCalls.incrementAndGet();
            requests.add(request);
            behaviour.generate(request, out);
        }

        @Override
        public void embed(EmbedRequest request, StreamObserver<EmbedResponse> responseObserver) {
            embedCalls.incrementAndGet();
            var response =
                    EmbedResponse.newBuilder().setUsage(Usage.newBuilder().setPromptTokens(request.getInputsCount()));
            for (int i = 0; i < request.getInputsCount(); i++) {
                response.addEmbeddings(
                        Embedding.newBuilder().setIndex(i).addValues(0.5f).addValues(-0.5f));
            }
            responseObserver.onNext(response.build());
            responseObserver.onCompleted();
        }
    }
}
