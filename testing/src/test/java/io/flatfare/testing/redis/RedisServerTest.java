package io.flatfare.testing.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.flatfare.testing.support.FreePorts;
import io.flatfare.testing.support.Processes;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;
import org.junit.jupiter.api.Test;

class RedisServerTest {

    @Test
    void serverRoundTripsAValueAndLeavesNothingBehind() throws Exception {
        RedisTestResource resource = new RedisTestResource();
        Map<String, String> config = resource.start();
        RedisServer server = resource.server();
        long pid = server.pid().orElseThrow();
        Path directory = server.directory().orElseThrow();
        int port = port(server.url());
        try {
            assertThat(config).containsExactly(Map.entry("quarkus.redis.hosts", "redis://127.0.0.1:" + port));
            try (RespClient client = client(port)) {
                assertThat(client.call("SET", "model:default", "llama-3-8b")).isEqualTo("OK");
                assertThat(client.call("GET", "model:default")).isEqualTo("llama-3-8b");
                assertThat(client.call("GET", "model:missing")).isNull();
            }
        } finally {
            resource.stop();
        }

        assertThat(ProcessHandle.of(pid).filter(Processes::isRunning)).isEmpty();
        assertThat(FreePorts.isAccepting(port)).isFalse();
        assertThat(directory).doesNotExist();
    }

    @Test
    void existingServerIsLeftRunning() throws Exception {
        try (RedisServer owned = RedisServer.startProcess()) {
            RedisServer existing = RedisServer.existing(owned.url());
            assertThat(existing.quarkusConfig()).isEqualTo(owned.quarkusConfig());
            assertThat(existing.pid()).isEmpty();

            existing.close();

            try (RespClient client = client(port(owned.url()))) {
                assertThat(client.call("PING")).isEqualTo("PONG");
            }
        }
    }

    @Test
    void startMovesToAnotherPortWhenItsPortIsTaken() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, FreePorts.LOOPBACK)) {
            AtomicInteger portsHandedOut = new AtomicInteger();
            IntSupplier takenFirst =
                    () -> portsHandedOut.getAndIncrement() == 0 ? taken.getLocalPort() : FreePorts.pick();
            try (RedisServer server = RedisServer.startProcess(takenFirst)) {
                assertThat(portsHandedOut).hasValue(2);
                assertThat(port(server.url())).isNotEqualTo(taken.getLocalPort());
                try (RespClient client = client(port(server.url()))) {
                    assertThat(client.call("PING")).isEqualTo("PONG");
                }
            }
        }
    }

    @Test
    void stoppedServerRestartsEmptyOnItsPortAndASuspendedOneAnswersOnlyOnceResumed() throws Exception {
        try (RedisServer server = RedisServer.startProcess()) {
            int port = port(server.url());
            try (RespClient client = client(port)) {
                assertThat(client.call("SET", "k", "v")).isEqualTo("OK");
            }

            server.stop();
            assertThat(FreePorts.isAccepting(port)).isFalse();
            server.restart();

            try (RespClient client = client(port)) {
                assertThat(client.call("GET", "k")).isNull();
            }

            server.suspend();
            try (RespClient frozen =
                    new RespClient(new InetSocketAddress(FreePorts.LOOPBACK, port), Duration.ofMillis(300))) {
                assertThatThrownBy(() -> frozen.call("PING")).isInstanceOf(java.net.SocketTimeoutException.class);
            }
            server.resume();
            try (RespClient client = client(port)) {
                assertThat(client.call("PING")).isEqualTo("PONG");
            }
            server.suspend(); // close() must still end a frozen server
            long pid = server.pid().orElseThrow();
            server.close();
            assertThat(ProcessHandle.of(pid).filter(Processes::isRunning)).isEmpty();
        }
    }

    @Test
    void existingServerCannotBeStopped() {
        RedisServer existing = RedisServer.existing("redis://127.0.0.1:1");
        assertThatThrownBy(existing::stop).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void failureToStartSaysWhy() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, FreePorts.LOOPBACK)) {
            assertThatThrownBy(() -> RedisServer.startProcess(taken::getLocalPort))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("redis-server did not answer PING on port " + taken.getLocalPort())
                    .hasMessageContaining("attempt 5")
                    .hasMessageContaining("Address already in use"); // from the server's own output
        }
    }

    private static RespClient client(int port) throws Exception {
        return new RespClient(new InetSocketAddress(FreePorts.LOOPBACK, port), Duration.ofSeconds(5));
    }

    private static int port(String url) {
        return Integer.parseInt(url.substring(url.lastIndexOf(':') + 1));
    }
}
