package io.flatfare.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.flatfare.testing.postgres.PostgresServer;
import io.flatfare.testing.redis.RedisServer;
import io.flatfare.testing.support.Processes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The safety net: servers a JVM never closed are stopped and deleted when it exits. */
class CleanupAtJvmExitTest {

    @TempDir
    Path dir;

    @Test
    void serversLeftOpenAreStoppedAndDeletedWhenTheJvmExits() throws Exception {
        assumeTrue(PostgresServer.Strategy.BINARIES.isAvailable(), "no PostgreSQL server binaries on this machine");
        Path log = dir.resolve("child.log");
        List<String> child = List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                LeaveServersRunning.class.getName());

        int exitCode = Processes.run(child, log, Duration.ofMinutes(2));

        assertThat(exitCode).as(Processes.tail(log)).isZero();
        List<String> servers = Files.readAllLines(log).stream()
                .filter(line -> line.startsWith("server "))
                .toList();
        assertThat(servers).as(Processes.tail(log)).hasSize(2);
        for (String server : servers) {
            String[] fields = server.split(" ");
            long pid = Long.parseLong(fields[1]);
            Path directory = Path.of(fields[2]);
            assertThat(ProcessHandle.of(pid).filter(Processes::isRunning))
                    .as(server)
                    .isEmpty();
            assertThat(directory).as(server).doesNotExist();
        }
    }

    /** The child JVM: starts servers, prints their process ids and directories, and exits without closing them. */
    public static final class LeaveServersRunning {
        public static void main(String[] args) throws Exception {
            RedisServer redis = RedisServer.startProcess();
            System.out.println("server " + redis.pid().orElseThrow() + " "
                    + redis.directory().orElseThrow());
            PostgresServer postgres = PostgresServer.start(PostgresServer.Strategy.BINARIES);
            Path directory = postgres.directory().orElseThrow();
            String postmasterPid = Files.readAllLines(directory.resolve("data/postmaster.pid"))
                    .getFirst()
                    .trim();
            System.out.println("server " + postmasterPid + " " + directory);
        }
    }
}
