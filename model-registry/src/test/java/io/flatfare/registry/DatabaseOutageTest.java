package io.flatfare.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.flatfare.contracts.registry.v1.HeartbeatRequest;
import io.flatfare.contracts.registry.v1.Instance;
import io.flatfare.contracts.registry.v1.InstanceState;
import io.flatfare.contracts.registry.v1.ModelRegistryGrpc;
import io.flatfare.contracts.registry.v1.RegisterRequest;
import io.flatfare.contracts.registry.v1.ResolveRequest;
import io.flatfare.registry.service.InstanceService;
import io.flatfare.testing.postgres.ProxiedPostgresResource;
import io.flatfare.testing.postgres.TestDatabase;
import io.flatfare.testing.support.TcpProxy;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The registry's own database away for longer than the instance TTL: no heartbeat could be recorded meanwhile, so
 * no instance may be expired for it the moment the database is back (every gateway would then see no ready instance
 * until each one re-registered); they get a whole TTL to heartbeat again, then the normal rule applies.
 */
@QuarkusTest
@TestProfile(DatabaseOutageTest.ShortTimeouts.class)
@WithTestResource(ProxiedPostgresResource.class)
class DatabaseOutageTest {

    /** A lost connection is given up in 3 s, and a transaction its client left, 3 s after its last statement. */
    public static class ShortTimeouts implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of(
                    "quarkus.datasource.jdbc.additional-jdbc-properties.socketTimeout", "3",
                    "quarkus.datasource.jdbc.new-connection-sql", "set idle_in_transaction_session_timeout = '3s'");
        }
    }

    private static final String MODEL = "qwen-3-32b";

    TcpProxy database;

    @Inject
    TestClock clock;

    @Inject
    InstanceService instances;

    RegistryClient client;

    @BeforeEach
    void connect() {
        client = RegistryClient.connect();
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        client.close();
    }

    @Test
    void instancesAreNotExpiredForHeartbeatsTheRegistryCouldNotRecord() {
        Duration ttl = Duration.ofSeconds(rpc().register(RegisterRequest.newBuilder()
                        .setInstanceId("inst-outage-1")
                        .setGrpcAddress("10.0.1.1:9000")
                        .addModels(MODEL)
                        .setSlots(4)
                        .setState(InstanceState.READY)
                        .build())
                .getTtlSeconds());

        database.down();
        try {
            instances.reap(); // finds the database away, and says so without failing
            assertThatThrownBy(() -> heartbeat("inst-outage-1"))
                    .isInstanceOfSatisfying(
                            StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
            clock.advance(ttl.plusSeconds(1)); // longer than a TTL without a recorded heartbeat
        } finally {
            database.up();
        }

        // Back: still routable, and its next heartbeat is taken (no NOT_FOUND, no need to register again).
        await().atMost(Duration.ofSeconds(30))
                .untilAsserted(() -> assertThat(routableIds()).contains("inst-outage-1"));
        instances.reap();
        assertThat(instances.live()).extracting(i -> i.id).contains("inst-outage-1");
        heartbeat("inst-outage-1");

        // A TTL later without another heartbeat, the normal rule again: it has expired.
        clock.advance(ttl.plusSeconds(1));
        instances.reap();
        assertThat(routableIds()).doesNotContain("inst-outage-1");
        assertThat(instances.live()).extracting(i -> i.id).doesNotContain("inst-outage-1");
    }

    @Test
    void aHeartbeatLostInTheMiddleOfItsTransactionLeavesNoRowLockedBehind() throws Exception {
        rpc().register(RegisterRequest.newBuilder()
                .setInstanceId("inst-lost-1")
                .setGrpcAddress("10.0.1.2:9000")
                .addModels(MODEL)
                .setSlots(4)
                .setState(InstanceState.READY)
                .build());

        // Another session holds the instances' table for 6 s, on the server alone: the next heartbeat's update
        // waits inside its transaction; then its connection leads nowhere. The server runs the update once the
        // lock is free and waits for a commit that never comes, the instance's row locked meanwhile.
        try (var held = TestDatabase.holdLock("inference_instances", 6);
                var thread = Executors.newVirtualThreadPerTaskExecutor()) {
            thread.submit(() -> client.rpc()
                    .withDeadlineAfter(30, TimeUnit.SECONDS)
                    .heartbeat(HeartbeatRequest.newBuilder()
                            .setInstanceId("inst-lost-1")
                            .build()));
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> TestDatabase.count("select count(*) from pg_stat_activity where wait_event_type ="
                                    + " 'Lock' and query like 'update inference_instances%'")
                            == 1);
            database.blackHoleOpenConnections();

            // The server ends the abandoned transaction, and the instance's heartbeats are taken again.
            await().atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> heartbeat("inst-lost-1"));
        }
    }

    private ModelRegistryGrpc.ModelRegistryBlockingStub rpc() {
        return client.rpc();
    }

    private void heartbeat(String id) {
        rpc().heartbeat(HeartbeatRequest.newBuilder().setInstanceId(id).build());
    }

    private List<String> routableIds() {
        return rpc().resolve(ResolveRequest.newBuilder().setName(MODEL).build()).getInstancesList().stream()
                .map(Instance::getId)
                .toList();
    }
}
