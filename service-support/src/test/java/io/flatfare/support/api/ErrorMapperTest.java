package io.flatfare.support.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.flatfare.testing.support.LogCapture;
import io.vertx.core.http.HttpClosedException;
import jakarta.ws.rs.core.Response;
import java.io.IOException;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.jboss.logmanager.ExtLogRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What the shared mapper logs: a client gone mid-upload is not an error of ours; anything unexpected is. */
class ErrorMapperTest {

    private LogCapture logged;

    @BeforeEach
    void listen() {
        logged = LogCapture.of(ErrorMapper.class.getName(), Level.ALL);
    }

    @AfterEach
    void stopListening() {
        logged.close();
    }

    @Test
    void aClientThatLeftWhileItsBodyWasReadIsNoErrorOfOurs() {
        // As Vert.x reports it when the connection closes under a request body being read.
        var gone = new IOException(new IOException(new HttpClosedException("Connection was closed")));

        Response response = new ErrorMapper().io(gone);

        assertThat(response.getStatus()).isEqualTo(400);
        assertThat(logged.records()).noneMatch(r -> r.getLevel().intValue() >= Level.WARNING.intValue());
    }

    @Test
    void anyOtherIoFailureIsAnErrorWithoutInternalsInTheAnswer() {
        Response response = new ErrorMapper().io(new IOException("disk full at /var/lib/secret"));

        assertThat(response.getStatus()).isEqualTo(500);
        assertThat(((ApiError) response.getEntity()).error().message()).isEqualTo("Internal error.");
        assertThat(logged.records())
                .anySatisfy(r -> assertThat(r.getLevel().intValue()).isGreaterThanOrEqualTo(Level.SEVERE.intValue()));
    }

    @Test
    void anUnreachableDatabaseIsA503ToRetryLoggedWithoutTheDriversMessage() {
        // As Hibernate wraps the PostgreSQL driver's "connection refused" (SQL state 08001).
        var refused = new RuntimeException(
                "could not prepare statement", new SQLException("Connection to 127.0.0.1:5432 refused", "08001"));

        Response response = new ErrorMapper().unexpected(refused);

        assertThat(response.getStatus()).isEqualTo(503);
        assertThat(response.getHeaderString("Retry-After")).isEqualTo("2");
        assertThat(((ApiError) response.getEntity()).error().code()).isEqualTo("database_unavailable");
        assertThat(logged.records()).singleElement().satisfies(r -> {
            assertThat(r.getLevel()).isEqualTo(Level.WARNING);
            assertThat(formatted(r)).contains("08001").doesNotContain("refused");
            assertThat(r.getThrown()).isNull();
        });
    }

    @Test
    void aDatabaseThatAnswersWithAnErrorIsStillA500() {
        // A unique violation: the database is there, the statement was wrong.
        var duplicate =
                new RuntimeException(new SQLException("duplicate key value violates unique constraint", "23505"));

        Response response = new ErrorMapper().unexpected(duplicate);

        assertThat(response.getStatus()).isEqualTo(500);
        assertThat(response.getHeaderString("Retry-After")).isNull();
    }

    @Test
    void theClassifierReadsTheStatesOfADatabaseThatIsNotThere() {
        assertThat(DatabaseFailures.unreachable(new SQLException("terminating connection", "57P01")))
                .isPresent();
        assertThat(DatabaseFailures.unreachable(new SQLException("the database system is starting up", "57P03")))
                .isPresent();
        assertThat(DatabaseFailures.unreachable(new SQLTransientConnectionException("pool closed")))
                .isPresent();
        assertThat(DatabaseFailures.unreachable(new SQLException("syntax error", "42601")))
                .isEmpty();
        assertThat(DatabaseFailures.unreachable(new SQLException("no state"))).isEmpty();
        assertThat(DatabaseFailures.unreachable(new IllegalStateException("not SQL")))
                .isEmpty();
        assertThat(DatabaseFailures.sqlState(new RuntimeException(new SQLException("x", "08006"))))
                .isEqualTo("08006");
        assertThat(DatabaseFailures.sqlState(new RuntimeException("x"))).isEqualTo("none");
    }

    private static String formatted(LogRecord record) {
        // JBoss Logging's printf-style records format themselves; plain JUL records through the standard formatter.
        return record instanceof ExtLogRecord ext
                ? ext.getFormattedMessage()
                : new java.util.logging.SimpleFormatter().formatMessage(record);
    }
}
