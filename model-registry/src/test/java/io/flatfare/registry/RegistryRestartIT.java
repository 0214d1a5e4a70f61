package io.flatfare.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.flatfare.contracts.registry.v1.HeartbeatRequest;
import io.flatfare.contracts.registry.v1.Instance;
import io.flatfare.contracts.registry.v1.InstanceState;
import io.flatfare.contracts.registry.v1.ModelRegistryGrpc;
import io.flatfare.contracts.registry.v1.RegisterRequest;
import io.flatfare.contracts.registry.v1.ResolveRequest;
import io.flatfare.testing.services.RegistryServer;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The registry (every replica of it) away for longer than the instance TTL, then started again on its database: no
 * heartbeat could reach it meanwhile, so the instances live when it stopped stay routable for a TTL after it is
 * back, time for each to heartbeat (taken, not NOT_FOUND); one that does not heartbeat then expires as usual.
 * Before, the new process's first reap expired them all, and gateways saw no ready instance until each one's next
 * heartbeat registered it again.
 */
class RegistryRestartIT {

    private static final String MODEL = "mistral-7b";

    private static final Duration TTL = Duration.ofSeconds(8);

    @Test
    void instancesLiveWhenTheRegistryStoppedStayRoutableForATtlAfterItStartsAgain() throws Exception {
        awayLongerThanATtl("inst-restart", RegistryServer::stopProcess, RegistryServer::startProcess);
    }

    /**
     * The same for a registry frozen (SIGSTOP) for longer than a TTL and then resumed, no restart: heartbeats could
     * not be recorded meanwhile, so its first look at its instances after the freeze keeps them routable for a TTL.
     * Before, its first reap expired them, and they came back only with the heartbeats that were waiting on it.
     */
    @Test
    void instancesLiveWhenTheRegistryFrozeStayRoutableForATtlAfterItResumes() throws Exception {
        awayLongerThanATtl(
                "inst-freeze",
                registry -> signal(registry.process().pid(), "STOP"),
                registry -> signal(registry.process().pid(), "CONT"));
    }

    interface Step {
        void apply(RegistryServer registry) throws Exception;
    }

    /** Two instances registered, the registry away (leave … back) for longer than a TTL, then asked at once. */
    private static void awayLongerThanATtl(String prefix, Step leave, Step back) throws Exception {
        try (RegistryServer registry = RegistryServer.start(TTL)) {
            ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", registry.port())
                    .usePlaintext()
                    .build();
            try {
                var rpc = ModelRegistryGrpc.newBlockingStub(channel);
                String beating = prefix + "-1";
                String silent = prefix + "-2";
                register(rpc, beating);
                register(rpc, silent);
                long leftAt = System.nanoTime();
                leave.apply(registry);
                try {
                    // Away for longer than a TTL: the instances' last recorded heartbeats are older than that when it
                    // is back.
                    await().atMost(TTL.multipliedBy(3))
                            .until(() -> System.nanoTime() - leftAt
                                    > TTL.plusSeconds(1).toNanos());
                } finally {
                    back.apply(registry);
                }

                assertThat(routable(rpc)).containsExactlyInAnyOrder(beating, silent);

                // One keeps heartbeating (each taken: no NOT_FOUND), the other does not and expires a TTL after the
                // registry is back, by the normal rule.
                await().atMost(TTL.multipliedBy(3)).until(() -> {
                    heartbeat(rpc, beating);
                    return !routable(rpc).contains(silent);
                });
                assertThat(routable(rpc)).containsExactly(beating);
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    private static void signal(long pid, String signal) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid))
                .inheritIO()
                .start();
        assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(kill.exitValue()).as("kill -%s %d", signal, pid).isZero();
    }

    private static void register(ModelRegistryGrpc.ModelRegistryBlockingStub rpc, String id) {
        rpc.withDeadlineAfter(10, TimeUnit.SECONDS)
                .register(RegisterRequest.newBuilder()
                        .setInstanceId(id)
                        .setGrpcAddress("10.0.2." + id.charAt(id.length() - 1) + ":9000")
                        .addModels(MODEL)
                        .setSlots(4)
                        .setState(InstanceState.READY)
                        .build());
    }

    private static void heartbeat(ModelRegistryGrpc.ModelRegistryBlockingStub rpc, String id) {
        rpc.withDeadlineAfter(10, TimeUnit.SECONDS)
                .heartbeat(HeartbeatRequest.newBuilder()
                        .setInstanceId(id)
                        .setState(InstanceState.READY)
                        .build());
    }

    private static List<String> routable(ModelRegistryGrpc.ModelRegistryBlockingStub rpc) {
        return rpc
                .withDeadlineAfter(10, TimeUnit.SECONDS)
                .resolve(ResolveRequest.newBuilder().setName(MODEL).build())
                .getInstancesList()
                .stream()
                .map(Instance::getId)
                .toList();
    }
}
