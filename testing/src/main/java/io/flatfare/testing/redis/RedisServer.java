package io.flatfare.testing.redis;

import io.flatfare.testing.support.Cleanup;
import io.flatfare.testing.support.Dirs;
import io.flatfare.testing.support.FreePorts;
import io.flatfare.testing.support.Processes;
import io.flatfare.testing.support.Settings;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntSupplier;

/**
 * A Redis server for tests: a throwaway {@code redis-server} process that keeps everything in memory, or an existing
 * server named by {@value #URL_ENV}.
 */
public final class RedisServer implements AutoCloseable {

    /** URL of an existing server ({@code redis://host:port}) to use instead of starting one. */
    public static final String URL_ENV = "FLATFARE_TEST_REDIS_URL";

    private static final int START_ATTEMPTS = 5;
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    private final String url;
    private final Path directory;
    /** The running process; {@link #restart()} replaces it. Null for an existing server. */
    private final AtomicReference<Process> process;

    private final Cleanup cleanup;
    private final List<String> command;

    private RedisServer(
            String url, Path directory, AtomicReference<Process> process, Cleanup cleanup, List<String> command) {
        this.url = url;
        this.directory = directory;
        this.process = process;
        this.cleanup = cleanup;
        this.command = command;
    }

    /** The server named by {@value #URL_ENV}, else a new {@code redis-server} process. */
    public static RedisServer start() {
        return Settings.get(URL_ENV).map(RedisServer::existing).orElseGet(RedisServer::startProcess);
    }

    /** An existing server; {@link #close()} leaves it alone. */
    public static RedisServer existing(String url) {
        return new RedisServer(url, null, null, Cleanup.nothing("Redis at " + url), List.of());
    }

    /** Starts {@code redis-server} from the PATH on a free port, with persistence off. */
    public static RedisServer startProcess() {
        return startProcess(FreePorts::pick);
    }

    /** Starts {@code redis-server} from the PATH on the given port, with persistence off. */
    public static RedisServer startProcessOnPort(int port) {
        return startProcess(() -> port);
    }

    /** Whether {@code redis-server} is on the PATH, so that {@link #startProcess()} can work. */
    public static boolean isInstalled() {
        return findOnPath("redis-server").isPresent();
    }

    /** Starts on the ports {@code ports} hands out; tests pass a taken one first to see the retry. */
    static RedisServer startProcess(IntSupplier ports) {
        Path executable = findOnPath("redis-server")
                .orElseThrow(() -> new IllegalStateException("redis-server is not on the PATH: install Redis, or set "
                        + URL_ENV + " to an existing server"));
        Path dir = Dirs.createTemp("flatfare-redis-");
        try {
            for (int attempt = 1; ; attempt++) {
                int port = ports.getAsInt();
                Path log = dir.resolve("redis.log");
                Files.deleteIfExists(log); // so a clash seen in an earlier attempt is not mistaken for this one's
                List<String> command = List.of(
                        executable.toString(),
                        "--port",
                        Integer.toString(port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        dir.toString());
                Process process = Processes.start(command, log);
                if (awaitPong(process, port)) {
                    AtomicReference<Process> current = new AtomicReference<>(process);
                    Cleanup cleanup = Cleanup.register("Redis on port " + port, () -> {
                        try {
                            stopProcess(current.get());
                        } finally {
                            Dirs.delete(dir);
                        }
                    });
                    return new RedisServer("redis://127.0.0.1:" + port, dir, current, cleanup, command);
                }
                boolean exited = !process.isAlive();
                Processes.stop(process.toHandle(), Duration.ofSeconds(5));
                boolean portClash = exited && Processes.tail(log).contains("Address already in use");
                if (!portClash || attempt == START_ATTEMPTS) {
                    throw new IllegalStateException("redis-server did not answer PING on port " + port + " (attempt "
                            + attempt + ", " + (exited ? "it exited" : "timed out after " + START_TIMEOUT)
                            + "). Output:\n" + Processes.tail(log));
                }
            }
        } catch (IOException e) {
            Dirs.delete(dir);
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            Dirs.delete(dir);
            throw e;
        }
    }

    /** The value for {@code quarkus.redis.hosts}: {@code redis://host:port}. */
    public String url() {
        return url;
    }

    /** The server's working directory, where this code started the server; deleted on close. */
    public Optional<Path> directory() {
        return Optional.ofNullable(directory);
    }

    /** The server's process id, where this code started the server. */
    public OptionalLong pid() {
        return process == null
                ? OptionalLong.empty()
                : OptionalLong.of(process.get().pid());
    }

    /**
     * Stops the process but keeps its port and directory, so a test can see clients cope with Redis going away;
     * {@link #restart()} brings it back, empty. Only for a server this code started.
     */
    public void stop() {
        stopProcess(owned());
    }

    /** Starts the server again on the same port after {@link #stop()}; it starts empty (nothing is persisted). */
    public void restart() {
        if (Processes.isRunning(owned().toHandle())) {
            throw new IllegalStateException("Redis at " + url + " is still running");
        }
        Path log = directory.resolve("redis.log");
        Process restarted = Processes.start(command, log);
        process.set(restarted);
        if (!awaitPong(restarted, port())) {
            throw new IllegalStateException(
                    "redis-server did not answer PING after a restart at " + url + ". Output:\n" + Processes.tail(log));
        }
    }

    /**
     * Freezes the process (SIGSTOP): connections stay open but nothing is answered, like a hung server or a network
     * partition that drops packets. {@link #resume()} thaws it; commands sent meanwhile run then.
     */
    public void suspend() {
        signal("STOP");
    }

    /** Thaws a {@link #suspend() suspended} process. */
    public void resume() {
        signal("CONT");
    }

    /** The configuration a Quarkus Redis client needs to use this server. */
    public Map<String, String> quarkusConfig() {
        return Map.of("quarkus.redis.hosts", url);
    }

    /** Stops the process (forcibly if it does not stop in time) and deletes its directory. */
    @Override
    public void close() {
        cleanup.run();
    }

    private Process owned() {
        if (process == null) {
            throw new IllegalStateException(
                    "Redis at " + url + " was not started here; it cannot be stopped or paused");
        }
        return process.get();
    }

    private int port() {
        return Integer.parseInt(url.substring(url.lastIndexOf(':') + 1));
    }

    private void signal(String name) {
        Process current = owned();
        Processes.runOrThrow(
                List.of("kill", "-" + name, Long.toString(current.pid())),
                directory.resolve("signals.log"),
                Duration.ofSeconds(10));
    }

    /** A suspended process would hold SIGTERM until thawed, so it is thawed first. */
    private static void stopProcess(Process process) {
        if (Processes.isRunning(process.toHandle())) {
            try {
                new ProcessBuilder("kill", "-CONT", Long.toString(process.pid()))
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .start()
                        .waitFor(10, TimeUnit.SECONDS);
            } catch (IOException e) {
                // Without kill(1) the forcible stop below still ends it.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        Processes.stop(process.toHandle(), Duration.ofSeconds(10));
    }

    /** Polls with PING until the server answers, exits, or {@link #START_TIMEOUT} passes. */
    private static boolean awaitPong(Process process, int port) {
        Instant deadline = Instant.now().plus(START_TIMEOUT);
        while (Instant.now().isBefore(deadline)) {
            if (answersPing(port)) {
                return true;
            }
            try {
                // Paces the polling while watching for the one event that ends it early: the server exiting.
                if (process.waitFor(25, TimeUnit.MILLISECONDS)) {
                    return false;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return false;
    }

    /**
     * The timeout is short because another process holding the port may accept the connection and never answer; a
     * Redis server too slow for it is simply asked again.
     */
    private static boolean answersPing(int port) {
        try (RespClient client =
                new RespClient(new InetSocketAddress(FreePorts.LOOPBACK, port), Duration.ofMillis(250))) {
            return "PONG".equals(client.call("PING"));
        } catch (IOException e) {
            return false;
        }
    }

    private static Optional<Path> findOnPath(String name) {
        String path = System.getenv("PATH");
        if (path == null) {
            return Optional.empty();
        }
        for (String entry : path.split(File.pathSeparator)) {
            if (!entry.isEmpty() && Files.isExecutable(Path.of(entry, name))) {
                return Optional.of(Path.of(entry, name));
            }
        }
        return Optional.empty();
    }
}
