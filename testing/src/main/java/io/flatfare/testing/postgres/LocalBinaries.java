package io.flatfare.testing.postgres;

import com.sun.security.auth.module.UnixSystem;
import io.flatfare.testing.support.Cleanup;
import io.flatfare.testing.support.Dirs;
import io.flatfare.testing.support.FreePorts;
import io.flatfare.testing.support.Processes;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.function.IntSupplier;
import java.util.stream.Stream;

/**
 * A new PostgreSQL cluster from the server binaries installed on this machine: no download, no container, about a
 * second from {@code initdb} to accepting connections.
 */
final class LocalBinaries {

    /** Debian and Ubuntu install each major version here, without putting it on the PATH. */
    private static final Path VERSIONED_INSTALLS = Path.of("/usr/lib/postgresql");

    /** PostgreSQL refuses to run as root; as root, its commands run as this OS user. */
    private static final String SERVER_OS_USER = "postgres";

    private static final int START_ATTEMPTS = 5;
    private static final Duration COMMAND_TIMEOUT = Duration.ofMinutes(2);

    private LocalBinaries() {}

    /** The directory holding {@code initdb} and {@code pg_ctl}: the PATH's first, else the highest version installed. */
    static Optional<Path> find() {
        String path = System.getenv("PATH");
        if (path != null) {
            for (String entry : path.split(File.pathSeparator)) {
                if (!entry.isEmpty() && hasServerBinaries(Path.of(entry))) {
                    return Optional.of(realBinDir(Path.of(entry)));
                }
            }
        }
        if (!Files.isDirectory(VERSIONED_INSTALLS)) {
            return Optional.empty();
        }
        try (Stream<Path> versions = Files.list(VERSIONED_INSTALLS)) {
            return versions.filter(v -> hasServerBinaries(v.resolve("bin")))
                    .max(Comparator.comparingDouble(LocalBinaries::version))
                    .map(v -> v.resolve("bin"));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    static PostgresServer start() {
        return start(FreePorts::pick);
    }

    private static Path requireBinaries() {
        return find().orElseThrow(() ->
                new IllegalStateException("No PostgreSQL server binaries (initdb, pg_ctl) on the PATH or under "
                        + VERSIONED_INSTALLS + "/*/bin"));
    }

    /** A new cluster in {@code data}: superuser {@link PostgresServer#USER}, trust auth, UTF-8, no locale. */
    private static void initdb(Path bin, Path dir, Path data, String... extra) {
        List<String> args = new ArrayList<>(
                List.of("-D", data.toString(), "-U", PostgresServer.USER, "-A", "trust", "-E", "UTF8", "--no-locale"));
        args.addAll(List.of(extra));
        Processes.runOrThrow(
                serverCommand(bin.resolve("initdb"), args.toArray(String[]::new)),
                dir.resolve("initdb.log"),
                COMMAND_TIMEOUT);
    }

    /** Starts on the ports {@code ports} hands out; tests pass a taken one first to see the retry. */
    static PostgresServer start(IntSupplier ports) {
        Path bin = requireBinaries();
        Path dir = Dirs.createTemp("flatfare-postgres-");
        Path data = dir.resolve("data");
        try {
            if (isRoot()) {
                handToServerUser(dir);
            }
            initdb(bin, dir, data, "--no-sync");
            int port = startOnFreePort(bin, dir, data, ports);
            Cleanup cleanup = Cleanup.register("PostgreSQL in " + dir, () -> stop(bin, dir, data));
            return new PostgresServer(
                    PostgresServer.Strategy.BINARIES,
                    "jdbc:postgresql://127.0.0.1:" + port + "/postgres",
                    PostgresServer.USER,
                    PostgresServer.PASSWORD,
                    dir,
                    cleanup);
        } catch (RuntimeException e) {
            try {
                stop(bin, dir, data);
            } catch (RuntimeException cleanupFailure) {
                e.addSuppressed(cleanupFailure);
            }
            throw e;
        }
    }

    /**
     * A cluster that keeps its data in {@code dir/data}: initialised on the first start, reused on later ones, with
     * fsync on. Unix sockets are off ({@code -k ''}), so a long directory path cannot exceed their length limit.
     */
    static PostgresServer startPersistent(Path dir, int port) {
        Path bin = requireBinaries();
        Path data = dir.resolve("data");
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("Could not create " + dir, e);
        }
        if (isRoot()) {
            handToServerUser(dir);
        }
        if (!Files.exists(data.resolve("PG_VERSION"))) {
            initdb(bin, dir, data);
        }
        Path serverLog = dir.resolve("postgres.log");
        Path pgCtlLog = dir.resolve("pg_ctl.log");
        int exitCode = Processes.run(
                serverCommand(
                        bin.resolve("pg_ctl"),
                        "-D",
                        data.toString(),
                        "-l",
                        serverLog.toString(),
                        "-o",
                        "-p " + port + " -k '' -c listen_addresses=127.0.0.1",
                        "-w",
                        "-t",
                        "60",
                        "start"),
                pgCtlLog,
                COMMAND_TIMEOUT);
        if (exitCode != 0) {
            throw new IllegalStateException("pg_ctl could not start PostgreSQL in " + data + " on port " + port
                    + " (exit code " + exitCode + "). pg_ctl output:\n" + Processes.tail(pgCtlLog)
                    + "\nServer log:\n" + Processes.tail(serverLog));
        }
        Cleanup cleanup = Cleanup.register("PostgreSQL in " + dir, () -> stopKeepingFiles(bin, dir, data));
        return new PostgresServer(
                PostgresServer.Strategy.BINARIES,
                "jdbc:postgresql://127.0.0.1:" + port + "/postgres",
                PostgresServer.USER,
                PostgresServer.PASSWORD,
                dir,
                cleanup);
    }

    /** A clean ("fast") shutdown that keeps the files; killed only if it does not end in time. */
    private static void stopKeepingFiles(Path bin, Path dir, Path data) {
        Optional<ProcessHandle> postmaster =
                postmasterPid(data.resolve("postmaster.pid")).flatMap(ProcessHandle::of);
        if (postmaster.isEmpty()) {
            return;
        }
        int exitCode = Processes.run(
                serverCommand(bin.resolve("pg_ctl"), "-D", data.toString(), "-m", "fast", "-w", "-t", "20", "stop"),
                dir.resolve("pg_ctl.log"),
                COMMAND_TIMEOUT);
        if (exitCode != 0 || !Processes.awaitExit(postmaster.get(), Duration.ofSeconds(10))) {
            Processes.stop(postmaster.get(), Duration.ofSeconds(5));
        }
    }

    /** Another process may take the picked port first; the server then fails to bind and is started again. */
    private static int startOnFreePort(Path bin, Path dir, Path data, IntSupplier ports) {
        Path serverLog = dir.resolve("postgres.log");
        Path pgCtlLog = dir.resolve("pg_ctl.log");
        for (int attempt = 1; ; attempt++) {
            int port = ports.getAsInt();
            deleteIfExists(serverLog); // so a clash seen in an earlier attempt is not mistaken for this one's
            // -F and the two settings after it trade crash safety, worthless for a throwaway cluster, for speed.
            String serverOptions = "-p " + port + " -k '" + dir + "' -c listen_addresses=127.0.0.1"
                    + " -F -c synchronous_commit=off -c full_page_writes=off";
            int exitCode = Processes.run(
                    serverCommand(
                            bin.resolve("pg_ctl"),
                            "-D",
                            data.toString(),
                            "-l",
                            serverLog.toString(),
                            "-o",
                            serverOptions,
                            "-w",
                            "-t",
                            "60",
                            "start"),
                    pgCtlLog,
                    COMMAND_TIMEOUT);
            if (exitCode == 0) {
                return port;
            }
            String log = Processes.tail(serverLog);
            boolean portClash = log.contains("could not bind") || log.contains("Address already in use");
            if (!portClash || attempt == START_ATTEMPTS) {
                throw new IllegalStateException("pg_ctl could not start PostgreSQL on port " + port + " (exit code "
                        + exitCode + ", attempt " + attempt + "). pg_ctl output:\n" + Processes.tail(pgCtlLog)
                        + "\nServer log:\n" + log);
            }
        }
    }

    /**
     * Stops the server, killing it if {@code pg_ctl} cannot, and deletes its directory. "immediate" skips the shutdown
     * checkpoint: nothing here is worth keeping.
     */
    private static void stop(Path bin, Path dir, Path data) {
        try {
            Path pidFile = data.resolve("postmaster.pid");
            Optional<ProcessHandle> postmaster = postmasterPid(pidFile).flatMap(ProcessHandle::of);
            if (postmaster.isEmpty()) {
                return;
            }
            int exitCode = Processes.run(
                    serverCommand(bin.resolve("pg_ctl"), "-D", data.toString(), "-m", "immediate", "-w", "stop"),
                    dir.resolve("pg_ctl.log"),
                    COMMAND_TIMEOUT);
            // pg_ctl returns once the pid file is gone, a moment before the postmaster has exited.
            if (exitCode != 0 || !Processes.awaitExit(postmaster.get(), Duration.ofSeconds(10))) {
                Processes.stop(postmaster.get(), Duration.ofSeconds(5));
            }
        } finally {
            Dirs.delete(dir);
        }
    }

    private static Optional<Long> postmasterPid(Path pidFile) {
        try (Stream<String> lines = Files.lines(pidFile)) {
            return lines.findFirst().map(String::trim).map(Long::parseLong);
        } catch (IOException | UncheckedIOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    private static List<String> serverCommand(Path executable, String... args) {
        List<String> command = new ArrayList<>();
        if (isRoot()) {
            command.addAll(List.of("runuser", "-u", SERVER_OS_USER, "--"));
        }
        command.add(executable.toString());
        command.addAll(List.of(args));
        return command;
    }

    private static boolean isRoot() {
        return new UnixSystem().getUid() == 0;
    }

    private static void handToServerUser(Path dir) {
        try {
            Files.setOwner(
                    dir, dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(SERVER_OS_USER));
        } catch (IOException e) {
            throw new IllegalStateException(
                    "Running as root, PostgreSQL must run as the OS user '" + SERVER_OS_USER + "', but " + dir
                            + " could not be handed to it",
                    e);
        }
    }

    private static boolean hasServerBinaries(Path dir) {
        return Files.isExecutable(dir.resolve("initdb")) && Files.isExecutable(dir.resolve("pg_ctl"));
    }

    /** pg_ctl on the PATH may be a symlink; the server binaries it needs lie next to its target. */
    private static Path realBinDir(Path dir) {
        try {
            return dir.resolve("pg_ctl").toRealPath().getParent();
        } catch (IOException e) {
            return dir;
        }
    }

    /** "15" → 15, "9.6" → 9.6; directories that are not versions sort first. */
    private static double version(Path dir) {
        try {
            return Double.parseDouble(dir.getFileName().toString());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static void deleteIfExists(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
