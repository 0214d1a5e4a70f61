package io.flatfare.testing.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs and ends server processes. Output always goes to a log file, never a pipe: a daemon that inherits a pipe would
 * keep it open and block whoever reads it, and a file's tail is what an error message needs.
 */
public final class Processes {

    private static final int TAIL_LINES = 30;

    private Processes() {}

    /**
     * Starts a command with its output (stdout and stderr) appended to {@code log}, in the log's directory: the
     * server's own, which a command run as another OS user can always enter.
     */
    public static Process start(List<String> command, Path log) {
        try {
            return new ProcessBuilder(command)
                    .directory(log.toAbsolutePath().getParent().toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("Could not start " + String.join(" ", command), e);
        }
    }

    /** Runs a command to completion and returns its exit code; its output is appended to {@code log}. */
    public static int run(List<String> command, Path log, Duration timeout) {
        Process process = start(command, log);
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                stop(process.toHandle(), Duration.ZERO);
                throw new IllegalStateException(
                        String.join(" ", command) + " did not finish within " + timeout + ". Output:\n" + tail(log));
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while running " + String.join(" ", command), e);
        }
    }

    /** Like {@link #run}, but a non-zero exit code is an error that carries the output's tail. */
    public static void runOrThrow(List<String> command, Path log, Duration timeout) {
        int exitCode = run(command, log, timeout);
        if (exitCode != 0) {
            throw new IllegalStateException(
                    String.join(" ", command) + " failed with exit code " + exitCode + ". Output:\n" + tail(log));
        }
    }

    /** Ends a process: politely first so it can clean up, forcibly when it has not exited after {@code grace}. */
    public static void stop(ProcessHandle process, Duration grace) {
        if (!isRunning(process)) {
            return;
        }
        process.destroy();
        if (awaitExit(process, grace)) {
            return;
        }
        process.destroyForcibly();
        if (!awaitExit(process, Duration.ofSeconds(10))) {
            throw new IllegalStateException("Process " + process.pid() + " is still alive after SIGKILL");
        }
    }

    /** Waits for the process to exit; false if it is still alive after {@code timeout}. */
    public static boolean awaitExit(ProcessHandle process, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (isRunning(process)) {
            if (System.nanoTime() - deadline >= 0) {
                return false;
            }
            try {
                // onExit() completes at once for our own children, but for any other process (a daemonized server)
                // the JDK polls every 300 ms and more; the short timeout lets us check sooner.
                process.onExit().get(10, TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException e) {
                // Still alive, or the JDK could not watch it: check again.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return !isRunning(process);
            }
        }
        return true;
    }

    /**
     * Whether the process still runs. Unlike {@link ProcessHandle#isAlive()}, a zombie does not count: a daemon that
     * has exited stays one until the init process reaps it, which in some containers happens only every few seconds.
     */
    public static boolean isRunning(ProcessHandle process) {
        if (!process.isAlive()) {
            return false;
        }
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(process.pid()), "stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2) != 'Z'; // the state follows "(command) "
        } catch (IOException | RuntimeException e) {
            return process.isAlive(); // no /proc (not Linux), or the process vanished meanwhile
        }
    }

    /** The last lines of a log file, for error messages. */
    public static String tail(Path log) {
        try {
            if (!Files.exists(log)) {
                return "(no output: " + log + " does not exist)";
            }
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            if (lines.isEmpty()) {
                return "(no output)";
            }
            return String.join("\n", lines.subList(Math.max(0, lines.size() - TAIL_LINES), lines.size()));
        } catch (IOException | UncheckedIOException e) {
            return "(could not read " + log + ": " + e + ")";
        }
    }
}
