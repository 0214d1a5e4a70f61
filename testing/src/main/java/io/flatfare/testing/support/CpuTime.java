package io.flatfare.testing.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BinaryOperator;

/**
 * CPU time from Linux {@code /proc}, for benchmarks: a process' threads by name (a JVM's JIT compiler threads among
 * them), how long they waited for a CPU, and the whole machine's busy time.
 * Readings are in nanoseconds at the kernel's tick resolution (10 ms); where {@code /proc} cannot be read they are 0,
 * so a benchmark prints zeros instead of failing elsewhere.
 */
public final class CpuTime {

    /** USER_HZ, the unit of {@code /proc} CPU times: 100 on every Linux platform. */
    private static final long NANOS_PER_TICK = 10_000_000L;

    private CpuTime() {}

    /** The machine's CPU time so far, over every core: busy (user, nice, system, irq, softirq, steal) and in all. */
    public record Machine(long busyNanos, long totalNanos) {

        /** The time spent from {@code earlier} to this reading. */
        public Machine since(Machine earlier) {
            return new Machine(busyNanos - earlier.busyNanos, totalNanos - earlier.totalNanos);
        }
    }

    /** Reads {@code /proc/stat}. */
    public static Machine machine() {
        return machine(Path.of("/proc/stat"));
    }

    static Machine machine(Path procStat) {
        try {
            String[] fields = Files.readAllLines(procStat).get(0).trim().split("\\s+");
            if (!fields[0].equals("cpu")) {
                throw new IllegalStateException("Not a /proc/stat total line: " + fields[0]);
            }
            long busy = 0;
            long total = 0;
            // user nice system idle iowait irq softirq steal; guest time is already counted in user.
            for (int i = 1; i <= 8 && i < fields.length; i++) {
                long ticks = Long.parseLong(fields[i]);
                total += ticks;
                if (i != 4 && i != 5) {
                    busy += ticks;
                }
            }
            return new Machine(busy * NANOS_PER_TICK, total * NANOS_PER_TICK);
        } catch (NoSuchFileException e) {
            return new Machine(0, 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** CPU time (user and system) of the JIT compiler threads of JVM {@code pid}; 0 where it cannot be read. */
    public static long compilerNanos(long pid) {
        return compilerNanos(Path.of("/proc", Long.toString(pid), "task"));
    }

    static long compilerNanos(Path tasks) {
        return byThreadName(tasks).entrySet().stream()
                .filter(group -> group.getKey().contains("CompilerThre"))
                .mapToLong(Map.Entry::getValue)
                .sum();
    }

    /**
     * CPU time (user and system) of process {@code pid}'s live threads, summed per thread name with its digits
     * replaced by {@code #} ({@code vert.x-eventloop-thread-#}, {@code C2 CompilerThre}): where a process spends its
     * CPU. Names are the kernel's, cut to 15 characters. Empty where it cannot be read.
     */
    public static Map<String, Long> byThreadName(long pid) {
        return byThreadName(Path.of("/proc", Long.toString(pid), "task"));
    }

    static Map<String, Long> byThreadName(Path tasks) {
        return perThreadName(
                tasks,
                task -> {
                    String stat = Files.readString(task.resolve("stat"));
                    // After the command name in parentheses: state is field 3; utime and stime are 14 and 15.
                    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) * NANOS_PER_TICK;
                },
                Long::sum);
    }

    /**
     * What the scheduler did with a group of threads ({@code /proc/<pid>/task/<tid>/schedstat}, nanoseconds): time on
     * a CPU, time runnable but waiting for one (on a run queue: the CPU was taken), and how often they were put on
     * a CPU (each wake-up, and each resumption after being preempted).
     */
    public record Sched(long runNanos, long waitNanos, long timeslices) {

        /** The scheduling from {@code earlier} to this reading. */
        public Sched since(Sched earlier) {
            return new Sched(
                    runNanos - earlier.runNanos, waitNanos - earlier.waitNanos, timeslices - earlier.timeslices);
        }

        Sched plus(Sched other) {
            return new Sched(runNanos + other.runNanos, waitNanos + other.waitNanos, timeslices + other.timeslices);
        }
    }

    /**
     * {@link Sched} of process {@code pid}'s live threads, summed per thread name as in {@link #byThreadName(long)}.
     * Empty where it cannot be read (no {@code /proc}, or a kernel without scheduler statistics).
     */
    public static Map<String, Sched> schedByThreadName(long pid) {
        return schedByThreadName(Path.of("/proc", Long.toString(pid), "task"));
    }

    static Map<String, Sched> schedByThreadName(Path tasks) {
        return perThreadName(
                tasks,
                task -> {
                    String[] fields =
                            Files.readString(task.resolve("schedstat")).strip().split(" ");
                    return new Sched(Long.parseLong(fields[0]), Long.parseLong(fields[1]), Long.parseLong(fields[2]));
                },
                Sched::plus);
    }

    /** Reads one value from a thread's {@code /proc/<pid>/task/<tid>} directory. */
    private interface TaskReader<T> {
        T read(Path task) throws IOException;
    }

    /** A value of each live thread of a process, merged per thread name (digits folded to #); empty if unreadable. */
    private static <T> Map<String, T> perThreadName(Path tasks, TaskReader<T> read, BinaryOperator<T> merge) {
        Map<String, T> byName = new TreeMap<>();
        try (var threads = Files.list(tasks)) {
            for (Path task : threads.toList()) {
                try {
                    String name = Files.readString(task.resolve("comm")).strip().replaceAll("[0-9]+", "#");
                    byName.merge(name, read.read(task), merge);
                } catch (IOException | RuntimeException gone) {
                    // A thread that ended while being read.
                }
            }
        } catch (IOException e) {
            return Map.of();
        }
        return byName;
    }
}
