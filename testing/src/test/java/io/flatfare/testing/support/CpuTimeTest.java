package io.flatfare.testing.support;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CpuTimeTest {

    @TempDir
    Path dir;

    @Test
    void machineCountsBusyAndAllTimeButNotGuestTwice() throws Exception {
        Path stat = dir.resolve("stat");
        // user nice system idle iowait irq softirq steal guest guest_nice
        Files.writeString(stat, "cpu  100 2 30 500 7 1 4 3 50 0\ncpu0 50 1 15 250 3 0 2 1 25 0\n");

        CpuTime.Machine machine = CpuTime.machine(stat);

        assertThat(machine.busyNanos()).isEqualTo((100 + 2 + 30 + 1 + 4 + 3) * 10_000_000L);
        assertThat(machine.totalNanos()).isEqualTo((100 + 2 + 30 + 500 + 7 + 1 + 4 + 3) * 10_000_000L);
        assertThat(machine.since(new CpuTime.Machine(40 * 10_000_000L, 600 * 10_000_000L)))
                .isEqualTo(new CpuTime.Machine(100 * 10_000_000L, 47 * 10_000_000L));
    }

    @Test
    void machineIsZeroWithoutProc() {
        assertThat(CpuTime.machine(dir.resolve("missing"))).isEqualTo(new CpuTime.Machine(0, 0));
    }

    @Test
    void compilerTimeSumsOnlyTheCompilerThreads() throws Exception {
        task("1", "C2 CompilerThre", "(C2 CompilerThre) S 1 2 3 4 5 6 7 8 9 10 20 5 0 0");
        task("2", "C1 CompilerThre", "(C1 CompilerThre) S 1 2 3 4 5 6 7 8 9 10 7 1 0 0");
        task("3", "main", "(main) R 1 2 3 4 5 6 7 8 9 10 900 90 0 0");

        assertThat(CpuTime.compilerNanos(dir)).isEqualTo((20 + 5 + 7 + 1) * 10_000_000L);
    }

    @Test
    void threadsAreSummedPerNameWithTheirNumbersFolded() throws Exception {
        task("1", "vert.x-eventloop-thread-0", "(vert.x-eventloop-thread-0) S 1 2 3 4 5 6 7 8 9 10 30 2 0 0");
        task("2", "vert.x-eventloop-thread-1", "(vert.x-eventloop-thread-1) S 1 2 3 4 5 6 7 8 9 10 8 0 0 0");
        task("3", "slot-12", "(slot-12) R 1 2 3 4 5 6 7 8 9 10 900 90 0 0");

        assertThat(CpuTime.byThreadName(dir))
                .containsOnly(
                        entry("vert.x-eventloop-thread-#", (30 + 2 + 8) * 10_000_000L),
                        entry("slot-#", (900 + 90) * 10_000_000L));
        assertThat(CpuTime.byThreadName(dir.resolve("missing"))).isEmpty();
    }

    @Test
    void schedulingIsSummedPerNameWithTheirNumbersFolded() throws Exception {
        task("1", "model-loader", "(model-loader) R 1 2 3 4 5 6 7 8 9 10 900 90 0 0");
        Files.writeString(dir.resolve("1").resolve("schedstat"), "9000000000 800000000 20000\n");
        task("2", "slot-1", "(slot-1) S 1 2 3 4 5 6 7 8 9 10 30 2 0 0");
        Files.writeString(dir.resolve("2").resolve("schedstat"), "300000000 500000000 40000\n");
        task("3", "slot-2", "(slot-2) S 1 2 3 4 5 6 7 8 9 10 30 2 0 0");
        Files.writeString(dir.resolve("3").resolve("schedstat"), "200000000 100000000 30000\n");
        task("4", "gone", "(gone) S 1 2 3 4 5 6 7 8 9 10 30 2 0 0"); // no schedstat: ended while read

        var sched = CpuTime.schedByThreadName(dir);

        assertThat(sched)
                .containsOnly(
                        entry("model-loader", new CpuTime.Sched(9_000_000_000L, 800_000_000L, 20_000)),
                        entry("slot-#", new CpuTime.Sched(500_000_000L, 600_000_000L, 70_000)));
        assertThat(sched.get("slot-#").since(new CpuTime.Sched(100_000_000L, 200_000_000L, 60_000)))
                .isEqualTo(new CpuTime.Sched(400_000_000L, 400_000_000L, 10_000));
        assertThat(CpuTime.schedByThreadName(dir.resolve("missing"))).isEmpty();
    }

    @Test
    void schedulingOfThisJvmIsReadOnLinux() {
        long pid = ProcessHandle.current().pid();
        var sched = CpuTime.schedByThreadName(pid);
        if (Files.exists(Path.of("/proc/self/schedstat"))) {
            // The thread running this test has run.
            assertThat(sched.values().stream()
                            .mapToLong(CpuTime.Sched::runNanos)
                            .sum())
                    .isPositive();
        } else {
            assertThat(sched.values().stream()
                            .mapToLong(CpuTime.Sched::runNanos)
                            .sum())
                    .isZero();
        }
    }

    @Test
    void compilerTimeOfThisJvmIsReadOnLinux() {
        long pid = ProcessHandle.current().pid();
        long nanos = CpuTime.compilerNanos(pid);
        if (Files.isDirectory(Path.of("/proc", Long.toString(pid), "task"))) {
            // Starting JUnit compiled thousands of methods.
            assertThat(nanos).isPositive();
        } else {
            assertThat(nanos).isZero();
        }
    }

    private void task(String id, String comm, String statTail) throws Exception {
        Path task = Files.createDirectories(dir.resolve(id));
        Files.writeString(task.resolve("comm"), comm + "\n");
        Files.writeString(task.resolve("stat"), id + " " + statTail + "\n");
    }
}
