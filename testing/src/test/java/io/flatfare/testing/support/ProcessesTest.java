package io.flatfare.testing.support;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessesTest {

    @TempDir
    Path dir;

    @Test
    void failedCommandIsReportedWithItsExitCodeAndOutput() {
        List<String> command = List.of("sh", "-c", "echo first; echo 'disk full' >&2; exit 3");

        assertThatThrownBy(() -> Processes.runOrThrow(command, dir.resolve("out.log"), Duration.ofSeconds(30)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("failed with exit code 3")
                .hasMessageContaining("first")
                .hasMessageContaining("disk full");
    }

    @Test
    void commandThatOverrunsIsKilledAndReported() {
        List<String> command = List.of("sh", "-c", "echo waiting; exec sleep 600");

        assertThatThrownBy(() -> Processes.run(command, dir.resolve("out.log"), Duration.ofMillis(500)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("did not finish within PT0.5S")
                .hasMessageContaining("waiting");
    }

    @Test
    void stopKillsAProcessThatIgnoresTheRequestToStop() throws Exception {
        // An ignored signal stays ignored across exec, so sleep ignores TERM too.
        Process stubborn = new ProcessBuilder("sh", "-c", "trap '' TERM; echo ready; exec sleep 600")
                .redirectErrorStream(true)
                .start();
        try (BufferedReader output = stubborn.inputReader()) {
            // Sending TERM before the trap is set would simply end the shell.
            assertThat(output.readLine()).isEqualTo("ready");

            Processes.stop(stubborn.toHandle(), Duration.ofMillis(300));

            assertThat(Processes.isRunning(stubborn.toHandle())).isFalse();
            // Gone (possibly a zombie not yet reaped); waitFor reaps it so its exit status can be read.
            assertThat(stubborn.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(stubborn.exitValue()).as("killed by SIGKILL").isEqualTo(128 + 9);
        }
    }
}
