package io.flatfare.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.flatfare.contracts.registry.v1.Capability;
import io.flatfare.contracts.registry.v1.DeregisterRequest;
import io.flatfare.contracts.registry.v1.HeartbeatRequest;
import io.flatfare.contracts.registry.v1.Instance;
import io.flatfare.contracts.registry.v1.InstanceState;
import io.flatfare.contracts.registry.v1.ListRequest;
import io.flatfare.contracts.registry.v1.ModelRegistryGrpc;
import io.flatfare.contracts.registry.v1.RegisterRequest;
import io.flatfare.contracts.registry.v1.RegisterResponse;
import io.flatfare.contracts.registry.v1.ResolveRequest;
import io.flatfare.registry.service.InstanceService;
import io.flatfare.testing.postgres.PostgresTestResource;
import io.flatfare.testing.postgres.TestDatabase;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** The registry over real gRPC (served on the HTTP port), backed by a real PostgreSQL. */
@QuarkusTest
@WithTestResource(PostgresTestResource.class)
class ModelRegistryGrpcTest {

    @Inject
    TestClock clock;

    @Inject
    InstanceService instanceService;

    RegistryClient client;

    @BeforeEach
    void connect() {
        client = RegistryClient.connect();
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        client.close();
    }

    private ModelRegistryGrpc.ModelRegistryBlockingStub rpc() {
        return client.rpc();
    }

    private RegisterResponse register(String id, String address, String... models) {
        return rpc().register(RegisterRequest.newBuilder()
                .setInstanceId(id)
                .setGrpcAddress(address)
                .addAllModels(List.of(models))
                .setSlots(4)
                .setState(InstanceState.READY)
                .build());
    }

    private List<String> routableIds(String name) {
        return rpc().resolve(ResolveRequest.newBuilder().setName(name).build()).getInstancesList().stream()
                .map(Instance::getId)
                .toList();
    }

    private static void assertStatus(Status.Code code, Executable call) {
        assertThatThrownBy(call::execute)
                .isInstanceOfSatisfying(
                        StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(code));
    }

    @Test
    void resolvesIdsAndAliases() {
        var byId = rpc().resolve(
                        ResolveRequest.newBuilder().setName("llama-3.3-70b").build());
        assertThat(byId.getModel().getId()).isEqualTo("llama-3.3-70b");
        assertThat(byId.getModel().getPriceTier()).isEqualTo("large");
        assertThat(byId.getModel().getCapabilitiesList()).containsExactly(Capability.CHAT, Capability.COMPLETION);

        var byAlias = rpc().resolve(ResolveRequest.newBuilder()
                .setName("meta-llama/Llama-3.3-70B-Instruct")
                .build());
        assertThat(byAlias.getModel().getId()).isEqualTo("llama-3.3-70b");
        assertThat(byAlias.getModel().getAliasesList()).contains("llama-3.3");

        assertStatus(
                Status.Code.NOT_FOUND,
                () -> rpc().resolve(ResolveRequest.newBuilder().setName("gpt-9").build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                () -> rpc().resolve(ResolveRequest.newBuilder().setName("").build()));
    }

    /**
     * A name no model can have (a client's {@code model} passed on by the gateway) is not found; a NUL in it went to
     * PostgreSQL, which refused it, and was answered UNAVAILABLE, logged as the database being down.
     */
    @Test
    void namesNoModelOrInstanceCanHaveAreNotFoundWithoutAskingTheDatabase() {
        for (String name : List.of("llama-3.3-70b\u0000", "a\u0000b", "llama 3", "x".repeat(10_000))) {
            assertStatus(
                    Status.Code.NOT_FOUND,
                    () -> rpc().resolve(
                                    ResolveRequest.newBuilder().setName(name).build()));
            assertStatus(
                    Status.Code.NOT_FOUND,
                    () -> rpc().heartbeat(HeartbeatRequest.newBuilder()
                            .setInstanceId(name)
                            .build()));
            assertStatus(
                    Status.Code.NOT_FOUND,
                    () -> rpc().deregister(DeregisterRequest.newBuilder()
                            .setInstanceId(name)
                            .build()));
        }
        assertStatus(Status.Code.INVALID_ARGUMENT, () -> register("inst\u0000", "10.0.0.6:9000", "flatfare-tiny"));
        assertStatus(Status.Code.NOT_FOUND, () -> register("inst-nul-model", "10.0.0.6:9000", "flatfare-tiny\u0000"));
    }

    @Test
    void listsTheCatalog() {
        var models = rpc().list(ListRequest.getDefaultInstance()).getModelsList();
        assertThat(models).extracting(m -> m.getId()).contains("flatfare-tiny", "whisper-large-v3", "mistral-7b");
        assertThat(models)
                .filteredOn(m -> m.getId().equals("flatfare-tiny-embed"))
                .singleElement()
                .satisfies(m -> assertThat(m.getCapabilitiesList()).containsExactly(Capability.EMBEDDINGS));
    }

    @Test
    void registeredInstancesAreRoutableUntilDeregistered() {
        var response = register("inst-route-1", "10.0.0.1:9000", "flatfare-tiny", "tiny");
        assertThat(response.getInstance().getModelsList()).containsExactly("flatfare-tiny");
        assertThat(response.getTtlSeconds()).isPositive();
        assertThat(response.getHeartbeatIntervalSeconds()).isLessThan(response.getTtlSeconds());

        assertThat(routableIds("flatfare-tiny")).contains("inst-route-1");
        assertThat(routableIds("tiny")).contains("inst-route-1");
        assertThat(routableIds("mistral-7b")).doesNotContain("inst-route-1");

        // Same id, same address: a restart re-registering, accepted.
        register("inst-route-1", "10.0.0.1:9000", "flatfare-tiny");
        // Same id, another address, while the first is live: refused.
        assertStatus(Status.Code.ALREADY_EXISTS, () -> register("inst-route-1", "10.0.0.2:9000", "flatfare-tiny"));

        rpc().deregister(DeregisterRequest.newBuilder()
                .setInstanceId("inst-route-1")
                .build());
        assertThat(routableIds("flatfare-tiny")).doesNotContain("inst-route-1");
        assertStatus(
                Status.Code.NOT_FOUND,
                () -> rpc().deregister(DeregisterRequest.newBuilder()
                        .setInstanceId("inst-route-1")
                        .build()));
    }

    @Test
    void drainingInstancesLeaveRouting() {
        register("inst-drain-1", "10.0.0.3:9000", "mistral-7b");
        assertThat(routableIds("mistral-7b")).contains("inst-drain-1");
        rpc().heartbeat(HeartbeatRequest.newBuilder()
                .setInstanceId("inst-drain-1")
                .setState(InstanceState.DRAINING)
                .build());
        assertThat(routableIds("mistral-7b")).doesNotContain("inst-drain-1");
    }

    @Test
    void heartbeatExpiryRemovesAnInstance() throws Exception {
        var ttl = Duration.ofSeconds(
                register("inst-expire-1", "10.0.0.4:9000", "qwen-3-32b").getTtlSeconds());
        register("inst-expire-2", "10.0.0.5:9000", "qwen-3-32b");
        assertThat(routableIds("qwen-3-32b")).contains("inst-expire-1", "inst-expire-2");

        // Half a TTL later only the second one heartbeats; another TTL on, the first has expired.
        clock.advance(ttl.dividedBy(2));
        rpc().heartbeat(HeartbeatRequest.newBuilder()
                .setInstanceId("inst-expire-2")
                .build());
        clock.advance(ttl.dividedBy(2).plusSeconds(1));

        assertThat(routableIds("qwen-3-32b")).contains("inst-expire-2").doesNotContain("inst-expire-1");
        assertStatus(
                Status.Code.NOT_FOUND,
                () -> rpc().heartbeat(HeartbeatRequest.newBuilder()
                        .setInstanceId("inst-expire-1")
                        .build()));

        // Reaping deletes its row. The scheduled reap (every 5 s of real time) may have been first, so the count the
        // call returns says nothing; the table does.
        instanceService.reapExpired();
        assertThat(TestDatabase.count("select count(*) from inference_instances where id = ?", "inst-expire-1"))
                .isZero();
        assertThat(TestDatabase.count("select count(*) from inference_instances where id = ?", "inst-expire-2"))
                .isOne();
        assertThat(instanceService.live()).extracting(i -> i.id).doesNotContain("inst-expire-1");
        // An expired instance may register again under its id, even at a new address.
        register("inst-expire-1", "10.0.0.44:9000", "qwen-3-32b");
        assertThat(routableIds("qwen-3-32b")).contains("inst-expire-1");
    }

    @Test
    void instancesReportTheContextTheyServeEachModelWith() {
        var response = rpc().register(RegisterRequest.newBuilder()
                .setInstanceId("inst-context-1")
                .setGrpcAddress("10.0.0.7:9000")
                .addModels("tiny")
                .addModels("mistral-7b")
                .putContextLengths("tiny", 1024)
                .setSlots(2)
                .build());
        // By model id; a model left out is served with its catalog context (mistral-7b's is 32768).
        assertThat(response.getInstance().getContextLengthsMap())
                .containsExactlyInAnyOrderEntriesOf(Map.of("flatfare-tiny", 1024, "mistral-7b", 32768));
        var resolved = rpc().resolve(
                        ResolveRequest.newBuilder().setName("flatfare-tiny").build());
        assertThat(resolved.getModel().getContextLength()).isEqualTo(2048);
        assertThat(resolved.getInstancesList())
                .filteredOn(i -> i.getId().equals("inst-context-1"))
                .singleElement()
                .satisfies(i -> assertThat(i.getContextLengthsMap()).containsEntry("flatfare-tiny", 1024));
        // Operators see it too.
        ModelAdminResourceTest.admin()
                .get("/admin/instances")
                .then()
                .statusCode(200)
                .body(
                        "data.find { it.id == 'inst-context-1' }.context_lengths.'flatfare-tiny'",
                        org.hamcrest.Matchers.equalTo(1024));

        // Registering again replaces what was reported.
        register("inst-context-1", "10.0.0.7:9000", "flatfare-tiny");
        assertThat(rpc().resolve(ResolveRequest.newBuilder().setName("tiny").build())
                        .getInstancesList())
                .filteredOn(i -> i.getId().equals("inst-context-1"))
                .singleElement()
                .satisfies(i -> assertThat(i.getContextLengthsMap()).isEqualTo(Map.of("flatfare-tiny", 2048)));
    }

    @Test
    void badRegistrationsMapToStatusCodes() {
        for (var contexts :
                List.of(Map.of("mistral-7b", 1024), Map.of("flatfare-tiny", 0), Map.of("flatfare-tiny", -1))) {
            assertStatus(
                    Status.Code.INVALID_ARGUMENT,
                    () -> rpc().register(RegisterRequest.newBuilder()
                            .setInstanceId("inst-bad-6")
                            .setGrpcAddress("10.0.0.6:9000")
                            .addModels("flatfare-tiny")
                            .putAllContextLengths(contexts)
                            .setSlots(1)
                            .build()));
        }
        assertStatus(Status.Code.NOT_FOUND, () -> register("inst-bad-1", "10.0.0.6:9000", "no-such-model"));
        assertStatus(Status.Code.INVALID_ARGUMENT, () -> register("inst-bad-2", "not an address", "flatfare-tiny"));
        assertStatus(Status.Code.INVALID_ARGUMENT, () -> register("inst-bad-3", "10.0.0.6:99999", "flatfare-tiny"));
        assertStatus(Status.Code.INVALID_ARGUMENT, () -> register("", "10.0.0.6:9000", "flatfare-tiny"));
        assertStatus(Status.Code.INVALID_ARGUMENT, () -> register("inst-bad-4", "10.0.0.6:9000"));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                () -> rpc().register(RegisterRequest.newBuilder()
                        .setInstanceId("inst-bad-5")
                        .setGrpcAddress("10.0.0.6:9000")
                        .addModels("flatfare-tiny")
                        .setSlots(0)
                        .build()));
        assertStatus(
                Status.Code.NOT_FOUND,
                () -> rpc().heartbeat(HeartbeatRequest.newBuilder()
                        .setInstanceId("inst-never")
                        .build()));
        assertThat(instanceService.live()).extracting(i -> i.id).noneMatch(id -> id.startsWith("inst-bad"));
    }

    @Test
    void servesTheStandardGrpcHealthService() {
        var health = HealthGrpc.newBlockingStub(client.channel())
                .withDeadlineAfter(10, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance());
        assertThat(health.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    }
}
