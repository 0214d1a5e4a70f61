package io.flatfare.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code ./flatfare} asks before it builds: a data directory that a running launcher holds is refused, so the
 * build does not replace the jars under its services.
 */
class PreflightTest {

    @TempDir
    Path dataDir;

    @Test
    void aDataDirectoryHeldByAnotherProcessIsRefusedAndAFreeOneIsNot() throws Exception {
        assertThatCode(() -> FlatfareUp.checkDataDirFree(dataDir.resolve("not-yet")))
                .doesNotThrowAnyException();
        Path lock = dataDir.resolve("launcher.lock");
        Files.createFile(lock);
        assertThatCode(() -> FlatfareUp.checkDataDirFree(dataDir)).doesNotThrowAnyException();

        // Another JVM holds it, as a running ./flatfare up does (a lock of this JVM would be another error).
        Process holder = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-cp",
                        System.getProperty("java.class.path"),
                        LockHolder.class.getName(),
                        lock.toString())
                .redirectErrorStream(true)
                .start();
        try {
            var out = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
            assertThat(out.readLine()).isEqualTo("locked");

            assertThatThrownBy(() -> FlatfareUp.checkDataDirFree(dataDir))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("another ./flatfare up is using " + dataDir
                            + "; stop it first (Ctrl-C where it runs) or choose another --data-dir");
        } finally {
            holder.destroy();
            assertThat(holder.waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
        // Free again once that process is gone; the check never took the lock itself.
        assertThatCode(() -> FlatfareUp.checkDataDirFree(dataDir)).doesNotThrowAnyException();
    }

    /** Holds the lock on the file named by its argument until it is killed. */
    public static final class LockHolder {
        public static void main(String[] args) throws Exception {
            try (FileChannel channel = FileChannel.open(Path.of(args[0]), StandardOpenOption.WRITE);
                    FileLock lock = channel.lock()) {
                System.out.println("locked");
                System.out.flush();
                Thread.sleep(Long.MAX_VALUE);
            }
        }
    }
}
