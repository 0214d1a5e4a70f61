package io.flatfare.testing.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.flatfare.testing.postgres.PostgresServer.Strategy;
import io.flatfare.testing.support.FreePorts;
import io.flatfare.testing.support.Processes;
import io.flatfare.testing.support.Settings;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class PostgresServerTest {

    private static final Pattern URL = Pattern.compile("jdbc:postgresql://[^:/]+:(\\d+)/([^?]+).*");

    @Test
    void binariesStrategyRoundTripsSqlAndLeavesNothingBehind() throws Exception {
        assumeTrue(Strategy.BINARIES.isAvailable(), "no PostgreSQL server binaries on this machine");
        PostgresTestResource resource = new PostgresTestResource();
        Map<String, String> config = resource.start();
        PostgresServer server = resource.server();
        Path directory = server.directory().orElseThrow();
        long postmasterPid = Long.parseLong(Files.readAllLines(directory.resolve("data/postmaster.pid"))
                .getFirst()
                .trim());
        int port = port(server.jdbcUrl());
        try {
            assertThat(server.strategy()).isEqualTo(Strategy.BINARIES);
            assertThat(config)
                    .containsEntry("quarkus.datasource.db-kind", "postgresql")
                    .containsEntry("quarkus.datasource.jdbc.url", server.jdbcUrl())
                    .containsEntry("quarkus.datasource.username", server.username())
                    .containsEntry("quarkus.datasource.password", server.password());
            assertSqlRoundTrip(server);
        } finally {
            resource.stop();
        }

        assertThat(ProcessHandle.of(postmasterPid).filter(Processes::isRunning)).isEmpty();
        assertThat(FreePorts.isAccepting(port)).isFalse();
        assertThat(directory).doesNotExist();
    }

    @Test
    void binariesStrategyMovesToAnotherPortWhenItsPortIsTaken() throws Exception {
        assumeTrue(Strategy.BINARIES.isAvailable(), "no PostgreSQL server binaries on this machine");
        try (ServerSocket taken = new ServerSocket(0, 1, FreePorts.LOOPBACK)) {
            AtomicInteger portsHandedOut = new AtomicInteger();
            IntSupplier takenFirst =
                    () -> portsHandedOut.getAndIncrement() == 0 ? taken.getLocalPort() : FreePorts.pick();
            try (PostgresServer server = LocalBinaries.start(takenFirst)) {
                assertThat(portsHandedOut).hasValue(2);
                assertThat(port(server.jdbcUrl())).isNotEqualTo(taken.getLocalPort());
                assertSqlRoundTrip(server);
            }
        }
    }

    @Test
    void embeddedStrategyRoundTripsSqlAndLeavesNothingBehind() throws Exception {
        PostgresServer server = PostgresServer.start(Strategy.EMBEDDED);
        Path directory = server.directory().orElseThrow();
        int port = port(server.jdbcUrl());
        try {
            assertThat(server.strategy()).isEqualTo(Strategy.EMBEDDED);
            assertSqlRoundTrip(server);
        } finally {
            server.close();
        }

        assertThat(FreePorts.isAccepting(port)).isFalse();
        assertThat(directory).doesNotExist();
    }

    @Test
    void existingServerStrategyCreatesAThrowawayDatabaseAndDropsItEvenWhileInUse() throws Exception {
        assumeTrue(Strategy.BINARIES.isAvailable(), "no PostgreSQL server binaries on this machine");
        try (PostgresServer host = PostgresServer.start(Strategy.BINARIES)) {
            PostgresServer server = PostgresServer.startExisting(host.jdbcUrl(), host.username(), host.password());
            String database = database(server.jdbcUrl());
            try (Connection leftOpen = server.connect()) {
                assertThat(server.strategy()).isEqualTo(Strategy.EXISTING);
                assertThat(server.directory()).isEmpty();
                assertThat(port(server.jdbcUrl())).isEqualTo(port(host.jdbcUrl()));
                assertThat(databases(host)).contains(database);
                assertSqlRoundTrip(server);

                server.close();

                assertThat(databases(host)).doesNotContain(database);
                assertThat(leftOpen.isValid(5)).isFalse();
            }
        }
    }

    @Test
    void dockerStrategyRoundTripsSqlOrSaysWhyItCannot() throws Exception {
        if (Strategy.DOCKER.isAvailable()) {
            try (PostgresServer server = PostgresServer.start(Strategy.DOCKER)) {
                assertSqlRoundTrip(server);
            }
        } else {
            assertThatThrownBy(() -> PostgresServer.start(Strategy.DOCKER))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("Docker engine");
        }
    }

    @Test
    void strategyCanBeForcedAndNamesTheChoicesWhenMistyped() {
        try {
            System.setProperty(PostgresServer.STRATEGY_ENV, " Embedded ");
            assertThat(PostgresServer.defaultStrategy()).isEqualTo(Strategy.EMBEDDED);

            System.setProperty(PostgresServer.STRATEGY_ENV, "podman");
            assertThatThrownBy(PostgresServer::defaultStrategy)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("podman")
                    .hasMessageContaining("existing, binaries, docker, embedded");
        } finally {
            System.clearProperty(PostgresServer.STRATEGY_ENV);
        }
    }

    @Test
    void localBinariesComeFirstWhenNothingIsForcedOrNamed() {
        assumeTrue(Settings.get(PostgresServer.STRATEGY_ENV).isEmpty(), "a strategy is forced");
        assumeTrue(Settings.get(PostgresServer.JDBC_URL_ENV).isEmpty(), "an existing server is named");
        assumeTrue(Strategy.BINARIES.isAvailable(), "no PostgreSQL server binaries on this machine");

        assertThat(PostgresServer.defaultStrategy()).isEqualTo(Strategy.BINARIES);
    }

    @Test
    void throwawayDatabaseReplacesOnlyTheDatabaseOfTheUrl() {
        assertThat(ThrowawayDatabase.withDatabase("jdbc:postgresql://db:5432/app", "t"))
                .isEqualTo("jdbc:postgresql://db:5432/t");
        assertThat(ThrowawayDatabase.withDatabase("jdbc:postgresql://db/app?sslmode=require&a=b/c", "t"))
                .isEqualTo("jdbc:postgresql://db/t?sslmode=require&a=b/c");
        assertThat(ThrowawayDatabase.withDatabase("jdbc:postgresql://a:1,b:2?ssl=true", "t"))
                .isEqualTo("jdbc:postgresql://a:1,b:2/t?ssl=true");
        assertThatThrownBy(() -> ThrowawayDatabase.withDatabase("jdbc:mysql://db/app", "t"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("jdbc:mysql://db/app");
    }

    private static void assertSqlRoundTrip(PostgresServer server) throws SQLException {
        try (Connection connection = server.connect();
                Statement statement = connection.createStatement()) {
            statement.execute("CREATE TABLE request (id BIGINT PRIMARY KEY, model TEXT NOT NULL)");
            statement.execute("INSERT INTO request VALUES (1, 'llama-3-8b'), (2, 'qwen-2.5-7b')");
            List<String> models = new ArrayList<>();
            try (ResultSet rows = statement.executeQuery("SELECT model FROM request ORDER BY id")) {
                while (rows.next()) {
                    models.add(rows.getString(1));
                }
            }
            assertThat(models).containsExactly("llama-3-8b", "qwen-2.5-7b");
        }
    }

    private static List<String> databases(PostgresServer server) throws SQLException {
        List<String> names = new ArrayList<>();
        try (Connection connection = server.connect();
                Statement statement = connection.createStatement();
                ResultSet rows = statement.executeQuery("SELECT datname FROM pg_database")) {
            while (rows.next()) {
                names.add(rows.getString(1));
            }
        }
        return names;
    }

    private static int port(String jdbcUrl) {
        return Integer.parseInt(parse(jdbcUrl).group(1));
    }

    private static String database(String jdbcUrl) {
        return parse(jdbcUrl).group(2);
    }

    private static Matcher parse(String jdbcUrl) {
        Matcher matcher = URL.matcher(jdbcUrl);
        assertThat(matcher.matches()).as(jdbcUrl).isTrue();
        return matcher;
    }
}
