package io.flatfare.gateway.routing;

import static io.flatfare.gateway.routing.FakeInference.deltaThenFails;
import static io.flatfare.gateway.routing.FakeInference.deltaThenHangs;
import static io.flatfare.gateway.routing.FakeInference.exhausted;
import static io.flatfare.gateway.routing.FakeInference.fails;
import static io.flatfare.gateway.routing.FakeInference.hangs;
import static io.flatfare.gateway.routing.FakeInference.invalid;
import static io.flatfare.gateway.routing.FakeInference.streams;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.flatfare.contracts.inference.v1.ChatInput;
import io.flatfare.contracts.inference.v1.ChatMessage;
import io.flatfare.contracts.inference.v1.EmbedRequest;
import io.flatfare.contracts.inference.v1.EmbedResponse;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.testing.support.TcpProxy;
import io.grpc.Status;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.helpers.test.UniAssertSubscriber;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Routing against a real model registry process and real gRPC inference servers whose answers each test controls.
 * Every test has a model of its own, so it sees only the instances it registered.
 */
class GrpcInferenceRouterTest {

    private static final Duration WAIT = Duration.ofSeconds(20);

    private static TestRegistry registry;

    private final List<AutoCloseable> resources = new ArrayList<>();
    private final RoutingConfig config = TestRoutingConfig.manualRefresh();
    private String model;
    private RegistryModelDirectory directory;
    private InferenceChannels channels;
    private GrpcInferenceRouter router;

    @BeforeAll
    static void startRegistry() {
        registry = TestRegistry.shared();
    }

    @BeforeEach
    void setUp() {
        model = registry.createModel("routing");
        directory = new RegistryModelDirectory(registry.stub(), config, Clock.systemUTC());
        channels = new InferenceChannels(List.of(), config, List.of());
        router = new GrpcInferenceRouter(directory, channels, config);
    }

    @AfterEach
    void tearDown() throws Exception {
        channels.close();
        for (AutoCloseable resource : resources.reversed()) {
            resource.close();
        }
    }

    @Test
    void streamsFromAReadyInstanceWithADeadline() {
        FakeInference a = instance("a", streams(3));
        List<String> served = new CopyOnWriteArrayList<>();

        var call = generate("req-1", served);

        call.awaitCompletion(WAIT);
        assertThat(call.getItems()).hasSize(4);
        assertThat(call.getItems().getLast().hasDone()).isTrue();
        assertThat(served).containsExactly(instanceId("a"));
        GenerateRequest received = a.requests().getFirst();
        assertThat(received.getModel()).isEqualTo(model);
        assertThat(received.getRequestId()).isEqualTo("req-1");
        assertThat(received.hasDeadline()).isTrue();
        await().atMost(WAIT).until(() -> router.inFlight(a.address()) == 0);
    }

    @Test
    void picksTheInstanceWithTheFewestCallsInFlight() {
        FakeInference a = instance("a", hangs());
        FakeInference b = instance("b", hangs());
        List<List<String>> served = new ArrayList<>();
        List<AssertSubscriber<GenerateResponse>> calls = new ArrayList<>();

        for (int i = 0; i < 4; i++) {
            List<String> seen = new CopyOnWriteArrayList<>();
            served.add(seen);
            calls.add(generate("req-" + i, seen));
        }

        // Each new call goes to the instance with fewer calls in flight; every call is still open.
        assertThat(served.get(1)).doesNotContainAnyElementsOf(served.get(0));
        assertThat(served.get(3)).doesNotContainAnyElementsOf(served.get(2));
        assertThat(router.inFlight(a.address())).isEqualTo(2);
        assertThat(router.inFlight(b.address())).isEqualTo(2);
        await().atMost(WAIT).until(() -> a.generateCalls() == 2 && b.generateCalls() == 2);

        calls.forEach(AssertSubscriber::cancel);

        await().atMost(WAIT).until(() -> a.cancellations() + b.cancellations() == 4);
        await().atMost(WAIT).until(() -> router.inFlight(a.address()) + router.inFlight(b.address()) == 0);
    }

    @Test
    void retriesOnAnotherInstanceWhenTheFirstIsFull() {
        FakeInference b = busyInstanceB();
        FakeInference a = instance("a", fails(exhausted(Duration.ofSeconds(2))));
        List<String> served = new CopyOnWriteArrayList<>();

        var call = generate("req-1", served);

        call.awaitCompletion(WAIT);
        assertThat(call.getItems()).hasSize(3);
        assertThat(served).containsExactly(instanceId("a"), instanceId("b"));
        assertThat(a.generateCalls()).isEqualTo(1);
        assertThat(b.generateCalls()).isEqualTo(2);
        assertThat(router.isBackedOff(a.address())).isFalse();
    }

    @Test
    void retriesOnAnotherInstanceWhenTheFirstIsUnavailableAndLeavesItOut() {
        FakeInference b = busyInstanceB();
        FakeInference a = instance(
                "a", fails(Status.UNAVAILABLE.withDescription("draining").asRuntimeException()));
        List<String> served = new CopyOnWriteArrayList<>();

        generate("req-1", served).awaitCompletion(WAIT);

        assertThat(served).containsExactly(instanceId("a"), instanceId("b"));
        assertThat(router.isBackedOff(a.address())).isTrue();
        for (int i = 2; i < 5; i++) {
            List<String> next = new CopyOnWriteArrayList<>();
            generate("req-" + i, next).awaitCompletion(WAIT);
            assertThat(next).containsExactly(instanceId("b"));
        }
        assertThat(a.generateCalls()).isEqualTo(1);
    }

    @Test
    void neverRetriesOnceOutputWasReceived() {
        FakeInference b = busyInstanceB();
        FakeInference a = instance("a", deltaThenFails(Status.UNAVAILABLE.withDescription("connection lost")));
        List<String> served = new CopyOnWriteArrayList<>();

        var call = generate("req-1", served);

        call.awaitFailure(WAIT);
        assertThat(call.getItems()).hasSize(1);
        assertThat(call.getFailure())
                .isInstanceOfSatisfying(
                        UpstreamException.class, e -> assertThat(e.kind()).isEqualTo(UpstreamException.Kind.FAILED));
        assertThat(served).containsExactly(instanceId("a"));
        assertThat(b.generateCalls()).isEqualTo(1);
    }

    @Test
    void overloadedWhenEveryInstanceIsFullWithTheSoonestRetryAfter() {
        FakeInference a = instance("a", fails(exhausted(Duration.ofSeconds(3))));
        FakeInference b = instance("b", fails(exhausted(Duration.ofSeconds(5))));

        var call = generate("req-1", new ArrayList<>());

        call.awaitFailure(WAIT);
        assertThat(call.getFailure()).isInstanceOfSatisfying(UpstreamException.class, e -> {
            assertThat(e.kind()).isEqualTo(UpstreamException.Kind.OVERLOADED);
            assertThat(e.retryAfter()).contains(Duration.ofSeconds(3));
        });
        assertThat(a.generateCalls()).isEqualTo(1);
        assertThat(b.generateCalls()).isEqualTo(1);
    }

    @Test
    void aMessageOverGrpcsSizeLimitIsAFailureNotAFullInstance() {
        // gRPC's own RESOURCE_EXHAUSTED for a message over a size limit carries no RetryInfo; every instance would
        // refuse it, and a 429 would have the client retry it for ever.
        FakeInference b = busyInstanceB();
        FakeInference a = instance(
                "a",
                fails(Status.RESOURCE_EXHAUSTED
                        .withDescription("gRPC message exceeds maximum size 262144: 300512")
                        .asRuntimeException()));
        List<String> served = new CopyOnWriteArrayList<>();

        var call = generate("req-1", served);

        call.awaitFailure(WAIT);
        assertThat(call.getFailure())
                .isInstanceOfSatisfying(
                        UpstreamException.class, e -> assertThat(e.kind()).isEqualTo(UpstreamException.Kind.FAILED));
        assertThat(served).containsExactly(instanceId("a"));
        assertThat(a.generateCalls()).isEqualTo(1);
        assertThat(b.generateCalls()).isEqualTo(1);
    }

    @Test
    void noInstanceWhenNoneIsReadyAndDrainingOnesAreLeftOut() {
        var none = generate("req-1", new ArrayList<>());
        none.awaitFailure(WAIT);
        assertThat(none.getFailure()).isInstanceOfSatisfying(UpstreamException.class, e -> {
            assertThat(e.kind()).isEqualTo(UpstreamException.Kind.NO_INSTANCE);
            assertThat(e.retryAfter()).isPresent();
        });

        FakeInference a = instance("a", streams(1));
        registry.drain(instanceId("a"));
        assertThat(resolved().readyInstances()).isZero();

        var draining = generate("req-2", new ArrayList<>());

        draining.awaitFailure(WAIT);
        assertThat(draining.getFailure())
                .isInstanceOfSatisfying(
                        UpstreamException.class,
                        e -> assertThat(e.kind()).isEqualTo(UpstreamException.Kind.NO_INSTANCE));
        assertThat(a.generateCalls()).isZero();
    }

    @Test
    void aPassedDeadlineEndsTheCallWithoutRetry() {
        FakeInference a = instance("a", hangs());
        FakeInference b = instance("b", hangs());
        ResolvedModel resolved = resolved();

        var call = router.generate(resolved, request("req-1"), Instant.now().plusMillis(500), id -> {})
                .subscribe()
                .withSubscriber(AssertSubscriber.<GenerateResponse>create(Long.MAX_VALUE));

        call.awaitFailure(WAIT);
        assertThat(call.getFailure())
                .isInstanceOfSatisfying(
                        UpstreamException.class,
                        e -> assertThat(e.kind()).isEqualTo(UpstreamException.Kind.DEADLINE_EXCEEDED));
        assertThat(a.generateCalls() + b.generateCalls()).isEqualTo(1);
        await().atMost(WAIT).until(() -> a.cancellations() + b.cancellations() == 1);
        assertThat(router.inFlight(a.address()) + router.inFlight(b.address())).isZero();
    }

    @Test
    void cancellingTheSubscriptionCancelsTheCallAtOnce() {
        FakeInference a = instance("a", deltaThenHangs());
        var call = generate("req-1", new ArrayList<>());
        call.awaitItems(1, WAIT);
        assertThat(router.inFlight(a.address())).isEqualTo(1);

        call.cancel();

        await().atMost(WAIT).until(() -> a.cancellations() == 1);
        await().atMost(WAIT).until(() -> router.inFlight(a.address()) == 0);
    }

    @Test
    void aKilledInstanceFailsItsStreamAndLeavesRouting() throws Exception {
        FakeInference a = FakeInference.start(deltaThenHangs());
        resources.add(a);
        var crashable = TcpProxy.to(a.port());
        resources.add(crashable);
        registry.register(instanceId("a"), crashable.address(), model);
        var streaming = generate("req-1", new ArrayList<>());
        streaming.awaitItems(1, WAIT);
        FakeInference b = instance("b", streams(2));

        crashable.down();

        streaming.awaitFailure(WAIT);
        assertThat(streaming.getFailure())
                .isInstanceOfSatisfying(
                        UpstreamException.class, e -> assertThat(e.kind()).isEqualTo(UpstreamException.Kind.FAILED));
        assertThat(router.isBackedOff(crashable.address())).isTrue();
        for (int i = 2; i < 6; i++) {
            List<String> served = new CopyOnWriteArrayList<>();
            generate("req-" + i, served).awaitCompletion(WAIT);
            assertThat(served).containsExactly(instanceId("b"));
        }
        assertThat(a.generateCalls()).isEqualTo(1);
        assertThat(b.generateCalls()).isEqualTo(4);
        assertThat(router.inFlight(crashable.address())).isZero();
    }

    @Test
    void aPromptTooLongIsContextLengthExceededAFeatureTheModelLacksIsUnsupportedAndOtherRejectionsAreInvalid() {
        // The engine's ErrorInfo reason, the field it names, its message, and the kind the router makes of it.
        Object[][] cases = {
            {
                "context_length_exceeded",
                "messages",
                "This model's maximum context length is 2048 tokens; the prompt has 3000.",
                UpstreamException.Kind.CONTEXT_LENGTH_EXCEEDED
            },
            {
                "unsupported_parameter",
                "logprobs",
                "logprobs are not supported by this model.",
                UpstreamException.Kind.UNSUPPORTED
            },
            {
                "invalid_value",
                "n",
                "n must be between 1 and 4 for this model, got 5.",
                UpstreamException.Kind.INVALID_REQUEST
            },
        };
        FakeInference a = instance("a", streams(1));
        for (Object[] c : cases) {
            a.behave(fails(invalid((String) c[0], (String) c[1], (String) c[2])));

            var call = generate("req-" + c[0], new ArrayList<>());

            call.awaitFailure(WAIT);
            assertThat(call.getFailure()).as("%s", c[0]).isInstanceOfSatisfying(UpstreamException.class, e -> {
                assertThat(e.kind()).isEqualTo(c[3]);
                assertThat(e.getMessage()).isEqualTo(c[2]);
                assertThat(e.param()).isEqualTo(c[1]);
            });
        }
        assertThat(a.generateCalls()).isEqualTo(cases.length);
    }

    @Test
    void embeddingsAreRoutedToo() {
        FakeInference a = instance("a", streams(1));
        List<String> served = new CopyOnWriteArrayList<>();
        var request = EmbedRequest.newBuilder()
                .setRequestId("emb-1")
                .setModel(model)
                .addInputs("one")
                .addInputs("two")
                .build();

        EmbedResponse response = router.embed(resolved(), request, Instant.now().plusSeconds(30), served::add)
                .subscribe()
                .withSubscriber(UniAssertSubscriber.create())
                .awaitItem(WAIT)
                .getItem();

        assertThat(response.getEmbeddingsList()).hasSize(2);
        assertThat(served).containsExactly(instanceId("a"));
        assertThat(a.embedCalls()).isEqualTo(1);
        await().atMost(WAIT).until(() -> router.inFlight(a.address()) == 0);
    }

    /**
     * Instance b, registered alone and holding one open call, so that an instance registered next (with no call in
     * flight) is always tried first. Its other calls stream two deltas and the final message.
     */
    private FakeInference busyInstanceB() {
        FakeInference b = instance("b", (request, out) -> {
            if (!request.getRequestId().equals("hold")) {
                streams(2).generate(request, out);
            }
        });
        var hold = generate("hold", new ArrayList<>());
        resources.add(hold::cancel);
        await().atMost(WAIT).until(() -> b.generateCalls() == 1);
        return b;
    }

    private FakeInference instance(String name, FakeInference.Behaviour behaviour) {
        FakeInference server = FakeInference.start(behaviour);
        resources.add(server);
        registry.register(instanceId(name), server.address(), model);
        return server;
    }

    private String instanceId(String name) {
        return model + "-" + name;
    }

    private ResolvedModel resolved() {
        assertThat(directory.refresh()).isTrue();
        return directory.resolve(model).orElseThrow();
    }

    private AssertSubscriber<GenerateResponse> generate(String requestId, List<String> served) {
        return router.generate(resolved(), request(requestId), Instant.now().plusSeconds(30), served::add)
                .subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
    }

    private GenerateRequest request(String requestId) {
        return GenerateRequest.newBuilder()
                .setRequestId(requestId)
                .setModel(model)
                .setChat(ChatInput.newBuilder()
                        .addMessages(ChatMessage.newBuilder().setRole("user").setContent("hello")))
                .build();
    }
}
