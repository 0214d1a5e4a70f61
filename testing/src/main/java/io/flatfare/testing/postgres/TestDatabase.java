package io.flatfare.testing.postgres;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.locks.LockSupport;
import org.eclipse.microprofile.config.ConfigProvider;

/**
 * SQL on connections of the test's own, outside the service's pool, to the database of the running Quarkus test
 * ({@code quarkus.datasource.*}): through its {@link io.flatfare.testing.support.TcpProxy} when it has one, which
 * lets new connections through even while it has lost the open ones.
 */
public final class TestDatabase {

    private TestDatabase() {}

    /** A new connection that never waits more than 10 s for an answer. */
    public static Connection connect() throws SQLException {
        var config = ConfigProvider.getConfig();
        Connection connection = DriverManager.getConnection(
                config.getValue("quarkus.datasource.jdbc.url", String.class),
                config.getValue("quarkus.datasource.username", String.class),
                config.getOptionalValue("quarkus.datasource.password", String.class)
                        .orElse(""));
        connection.setNetworkTimeout(Runnable::run, 10_000);
        return connection;
    }

    /** The number the query counts, e.g. {@code select count(*) from t where a = ?}. */
    public static long count(String sql, Object... parameters) throws SQLException {
        try (Connection connection = connect();
                PreparedStatement statement = connection.prepareStatement(sql)) {
            for (int i = 0; i < parameters.length; i++) {
                statement.setObject(i + 1, parameters[i]);
            }
            try (ResultSet rows = statement.executeQuery()) {
                rows.next();
                return rows.getLong(1);
            }
        }
    }

    /**
     * Holds {@code table} in {@code SHARE ROW EXCLUSIVE} mode for {@code seconds} (reads go on, writes wait), on the
     * server alone: the holding session needs nothing more from its client, so it lets go in time even if its
     * connection is lost meanwhile. Returns once the lock is held; closing the result drops the holding connection.
     */
    public static AutoCloseable holdLock(String table, int seconds) throws SQLException {
        Connection holder = connect();
        ExecutorService thread = Executors.newVirtualThreadPerTaskExecutor();
        thread.submit(() -> {
            try (Statement hold = holder.createStatement()) {
                // Table names are the tests' constants, never input.
                hold.execute("do $$ begin lock table " + table + " in share row exclusive mode; perform pg_sleep("
                        + seconds + "); end $$");
            } catch (SQLException e) {
                // The answer may be lost with the connection; the server has done its part either way.
            }
        });
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (count(
                        "select count(*) from pg_locks l join pg_class c on c.oid = l.relation where c.relname = ?"
                                + " and l.mode = 'ShareRowExclusiveLock' and l.granted",
                        table)
                == 0) {
            if (System.nanoTime() > deadline) {
                holder.abort(Runnable::run);
                thread.shutdownNow();
                throw new IllegalStateException("No lock on " + table + " within 10 s");
            }
            LockSupport.parkNanos(10_000_000L); // polling a condition, as Awaitility would
        }
        // Aborted, not closed: a close writes a goodbye to the server, and fails when the holding thread, still
        // waiting for an answer a test's TcpProxy has cut, closes the socket at that moment (as an interrupt makes it).
        return () -> {
            holder.abort(Runnable::run);
            thread.shutdownNow();
        };
    }
}
