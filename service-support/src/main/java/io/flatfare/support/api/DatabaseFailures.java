package io.flatfare.support.api;

import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.util.Optional;
import java.util.Set;

/**
 * Tells a database that cannot be reached (down, restarting, refusing connections) from every other failure, so
 * that it is answered as a 503 to retry rather than a 500, and logged without the driver's message (which may quote
 * the statement's values).
 */
public final class DatabaseFailures {

    /**
     * PostgreSQL's states besides class 08 (connection exception) that mean "not now": the server is shutting down
     * or restarting, or refuses more connections.
     */
    private static final Set<String> UNAVAILABLE_STATES = Set.of("57P01", "57P02", "57P03", "53300");

    private DatabaseFailures() {}

    /** The SQL error under {@code failure} that says the database cannot be reached, if there is one. */
    public static Optional<SQLException> unreachable(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof SQLException sql && isUnreachable(sql)) {
                return Optional.of(sql);
            }
        }
        return Optional.empty();
    }

    /**
     * The first SQL error under {@code failure}: the database, the pool or the driver failed (Hibernate and the
     * transaction manager keep the driver's error as the cause). For a fixed, validated statement, that is the
     * database's state, not a mistake of the caller.
     */
    public static Optional<SQLException> sqlError(Throwable failure) {
        return Optional.ofNullable(Causes.find(failure, SQLException.class));
    }

    /** The SQL state of the first SQL error under {@code failure}, for a log line that quotes no data. */
    public static String sqlState(Throwable failure) {
        return sqlError(failure).map(sql -> String.valueOf(sql.getSQLState())).orElse("none");
    }

    private static boolean isUnreachable(SQLException e) {
        if (e instanceof SQLTransientConnectionException) {
            return true;
        }
        String state = e.getSQLState();
        return state != null && (state.startsWith("08") || UNAVAILABLE_STATES.contains(state));
    }
}
