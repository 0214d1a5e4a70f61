package io.flatfare.gateway.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.http.HttpClosedException;
import java.io.IOException;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;

class ClientGoneLogFilterTest {

    final ClientGoneLogFilter filter = new ClientGoneLogFilter();

    static LogRecord record(String logger, Throwable thrown) {
        LogRecord record =
                new LogRecord(Level.SEVERE, "Exception in SSE server handling, impossible to send it to client");
        record.setLoggerName(logger);
        record.setThrown(thrown);
        return record;
    }

    @Test
    void aStreamWriteToAConnectionTheClientResetIsNotLogged() {
        String writer = ClientGoneLogFilter.STREAM_WRITER;
        assertThat(filter.isLoggable(record(writer, new IOException("Connection reset by peer"))))
                .isFalse();
        assertThat(filter.isLoggable(record(writer, new IllegalStateException(new IOException("Broken pipe")))))
                .isFalse();
        assertThat(filter.isLoggable(record(writer, new HttpClosedException("Connection was closed"))))
                .isFalse();
    }

    @Test
    void anyOtherFailureIsLogged() {
        String writer = ClientGoneLogFilter.STREAM_WRITER;
        assertThat(filter.isLoggable(record(writer, new IllegalStateException("a bug"))))
                .isTrue();
        assertThat(filter.isLoggable(record(writer, null))).isTrue();
        assertThat(filter.isLoggable(record("io.flatfare.gateway.api.V1Resource", new IOException("disk"))))
                .isTrue();
    }
}
