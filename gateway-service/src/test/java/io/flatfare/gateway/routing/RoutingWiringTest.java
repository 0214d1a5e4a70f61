package io.flatfare.gateway.routing;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.hasItem;

import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.contracts.inference.v1.GenerateResponse;
import io.flatfare.contracts.registry.v1.DeregisterRequest;
import io.flatfare.contracts.registry.v1.Instance;
import io.flatfare.contracts.registry.v1.InstanceState;
import io.flatfare.contracts.registry.v1.ModelRegistryGrpc;
import io.flatfare.contracts.registry.v1.RegisterRequest;
import io.flatfare.testing.kafka.KafkaTestResource;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.redis.RedisTestResource;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannelBuilder;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import jakarta.inject.Inject;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.Test;

/** The routing beans as the application wires them: the configured registry client, readiness, channels. */
@QuarkusTest
@WithTestResource(PostgresTestResource.class)
@WithTestResource(RedisTestResource.class)
@WithTestResource(KafkaTestResource.class)
@WithTestResource(RegistryTestResource.class)
class RoutingWiringTest {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @Inject
    ModelDirectory models;

    @Inject
    InferenceRouter router;

    @Inject
    InferenceChannels channels;

    @Inject
    RegistryModelDirectory directory;

    interface Body {
        void run() throws Exception;
    }

    /** Runs {@code body} while {@code instance} is registered, READY for flatfare-tiny, as {@code id}. */
    private static void whileRegistered(String id, FakeInference instance, Body body) throws Exception {
        int port = ConfigProvider.getConfig().getValue("quarkus.grpc.clients.registry.test-port", Integer.class);
        var channel = ManagedChannelBuilder.forAddress("127.0.0.1", port)
                .usePlaintext()
                .build();
        var registry = ModelRegistryGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
        try {
            registry.register(RegisterRequest.newBuilder()
                    .setInstanceId(id)
                    .setGrpcAddress(instance.address())
                    .addModels("flatfare-tiny")
                    .setSlots(1)
                    .setState(InstanceState.READY)
                    .build());
            try {
                body.run();
            } finally {
                registry.deregister(
                        DeregisterRequest.newBuilder().setInstanceId(id).build());
            }
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    void readyOnceTheCatalogIsLoaded() {
        given().get("/q/health/ready")
                .then()
                .statusCode(200)
                .body("checks.name", hasItem("model-registry"))
                .body("checks.find { it.name == 'model-registry' }.status", org.hamcrest.Matchers.equalTo("UP"));
        assertThat(models.list()).extracting(ResolvedModel::id).contains("flatfare-tiny", "flatfare-tiny-embed");
    }

    @Test
    void anInstanceIsConnectedToOnEveryEventLoopBeforeItsFirstCall() throws Exception {
        given().get("/q/health/ready")
                .then()
                .statusCode(200)
                .body("checks.find { it.name == 'warm-up' }.status", org.hamcrest.Matchers.equalTo("UP"));
        try (FakeInference instance = FakeInference.start(FakeInference.streams(2))) {
            whileRegistered("warm-test", instance, () -> {
                // The registry refresh that finds the instance opens the channels a request would open, one per
                // event loop and the shared one, and connects them: no request waits for a handshake.
                await().atMost(WAIT)
                        .until(
                                () -> channels.states(instance.address()),
                                states -> states.size() > 1
                                        && states.stream().allMatch(s -> s == ConnectivityState.READY));
                assertThat(instance.requests()).isEmpty();
            });
        }
    }

    @Test
    void routesAnAliasToAnInstanceRegisteredWithTheRegistry() throws Exception {
        try (FakeInference instance = FakeInference.start(FakeInference.streams(2))) {
            whileRegistered("wiring-test", instance, () -> {
                // Only this instance: one registered by another test may linger in the view until its next refresh.
                await().atMost(WAIT)
                        .until(() -> directory.readyInstances("flatfare-tiny").stream()
                                .map(Instance::getId)
                                .toList()
                                .equals(List.of("wiring-test")));
                ResolvedModel tiny = models.resolve("tiny").orElseThrow();
                assertThat(tiny.id()).isEqualTo("flatfare-tiny");
                List<String> served = new CopyOnWriteArrayList<>();

                var call = router.generate(
                                tiny,
                                GenerateRequest.newBuilder()
                                        .setRequestId("wiring-1")
                                        .setModel(tiny.id())
                                        .setPrompt("hello")
                                        .build(),
                                Instant.now().plusSeconds(30),
                                served::add)
                        .subscribe()
                        .withSubscriber(AssertSubscriber.<GenerateResponse>create(Long.MAX_VALUE));

                call.awaitCompletion(WAIT);
                assertThat(call.getItems()).hasSize(3);
                assertThat(served).containsExactly("wiring-test");
                // The application's global client interceptors apply: the trace context travels with the call.
                assertThat(instance.headers())
                        .singleElement()
                        .satisfies(h -> assertThat(h.keys()).contains("traceparent"));
                assertThat(instance.requests())
                        .singleElement()
                        .satisfies(r -> assertThat(r.getPrompt()).isEqualTo("hello"));
            });
        }
    }
}
