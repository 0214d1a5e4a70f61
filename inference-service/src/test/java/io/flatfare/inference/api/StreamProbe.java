package io.flatfare.inference.api;

import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** A Generate call the test can watch and cancel: records every message and how the call ended. */
final class StreamProbe implements ClientResponseObserver<GenerateRequest, GenerateResponse> {

    final List<GenerateResponse> messages = new CopyOnWriteArrayList<>();
    private final CountDownLatch firstDelta = new CountDownLatch(1);
    private final CountDownLatch ended = new CountDownLatch(1);
    private volatile ClientCallStreamObserver<GenerateRequest> call;
    private volatile Status status;

    @Override
    public void beforeStart(ClientCallStreamObserver<GenerateRequest> requestStream) {
        this.call = requestStream;
    }

    @Override
    public void onNext(GenerateResponse value) {
        messages.add(value);
        if (value.hasDelta()) {
            firstDelta.countDown();
        }
    }

    @Override
    public void onError(Throwable t) {
        status = Status.fromThrowable(t);
        ended.countDown();
        firstDelta.countDown();
    }

    @Override
    public void onCompleted() {
        status = Status.OK;
        ended.countDown();
        firstDelta.countDown();
    }

    boolean awaitFirstDelta(Duration timeout) throws InterruptedException {
        return firstDelta.await(timeout.toMillis(), TimeUnit.MILLISECONDS) && hasDelta();
    }

    boolean hasDelta() {
        return messages.stream().anyMatch(GenerateResponse::hasDelta);
    }

    Status awaitEnd(Duration timeout) throws InterruptedException {
        return ended.await(timeout.toMillis(), TimeUnit.MILLISECONDS) ? status : null;
    }

    boolean isEnded() {
        return ended.getCount() == 0;
    }

    void cancel() {
        call.cancel("test cancels", null);
    }

    String text(int index) {
        var text = new StringBuilder();
        messages.stream()
                .filter(m -> m.hasDelta() && m.getDelta().getIndex() == index)
                .forEach(m -> text.append(m.getDelta().getText()));
        return text.toString();
    }
}
