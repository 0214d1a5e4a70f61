package io.flatfare.testing.postgres;

import io.flatfare.testing.support.Cleanup;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A database of its own on a server someone else runs (a CI service, a developer's local PostgreSQL), so runs and
 * modules sharing the server never see each other's tables.
 */
final class ThrowawayDatabase {

    private static final String JDBC_PREFIX = "jdbc:postgresql://";

    private ThrowawayDatabase() {}

    static PostgresServer create(String adminJdbcUrl, String username, String password) {
        String database = "flatfare_test_"
                + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
        String jdbcUrl = withDatabase(adminJdbcUrl, database);
        execute(adminJdbcUrl, username, password, "CREATE DATABASE " + database);
        // FORCE (PostgreSQL 13+) ends connections a test left open, which would otherwise block the drop.
        Cleanup cleanup = Cleanup.register(
                "database " + database + " at " + adminJdbcUrl,
                () -> execute(
                        adminJdbcUrl, username, password, "DROP DATABASE IF EXISTS " + database + " WITH (FORCE)"));
        return new PostgresServer(PostgresServer.Strategy.EXISTING, jdbcUrl, username, password, null, cleanup);
    }

    /** The URL with its database replaced: {@code jdbc:postgresql://host[:port][,...][/db][?params]}. */
    static String withDatabase(String jdbcUrl, String database) {
        if (!jdbcUrl.startsWith(JDBC_PREFIX)) {
            throw new IllegalArgumentException(
                    "Expected a JDBC URL of the form " + JDBC_PREFIX + "host[:port]/database, got " + jdbcUrl);
        }
        String rest = jdbcUrl.substring(JDBC_PREFIX.length());
        int query = rest.indexOf('?');
        String params = query < 0 ? "" : rest.substring(query);
        String hostsAndPath = query < 0 ? rest : rest.substring(0, query);
        int slash = hostsAndPath.indexOf('/');
        String hosts = slash < 0 ? hostsAndPath : hostsAndPath.substring(0, slash);
        return JDBC_PREFIX + hosts + "/" + database + params;
    }

    private static void execute(String jdbcUrl, String username, String password, String sql) {
        try (Connection connection = PostgresServer.connect(jdbcUrl, username, password);
                Statement statement = connection.createStatement()) {
            statement.execute(sql);
        } catch (SQLException e) {
            throw new IllegalStateException("Could not run \"" + sql + "\" on " + jdbcUrl + " as " + username, e);
        }
    }
}
