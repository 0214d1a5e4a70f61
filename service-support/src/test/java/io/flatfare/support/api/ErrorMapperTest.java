package io.flatfare.support.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.http.HttpClosedException;
import jakarta.ws.rs.core.Response;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What the shared mapper logs: a client gone mid-upload is not an error of ours; anything unexpected is. */
class ErrorMapperTest {

    private final List<LogRecord> records = new CopyOnWriteArrayList<>();
    private final Logger logger = Logger.getLogger(ErrorMapper.class.getName());
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            records.add(record);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    @BeforeEach
    void listen() {
        logger.addHandler(capture);
    }

    @AfterEach
    void stopListening() {
        logger.removeHandler(capture);
    }

    @Test
    void aClientThatLeftWhileItsBodyWasReadIsNoErrorOfOurs() {
        // As Vert.x reports it when the connection closes under a request body being read.
        var gone = new IOException(new IOException(new HttpClosedException("Connection was closed")));

        Response response = new ErrorMapper().io(gone);

        assertThat(response.getStatus()).isEqualTo(400);
        assertThat(records).noneMatch(r -> r.getLevel().intValue() >= Level.WARNING.intValue());
    }

    @Test
    void anyOtherIoFailureIsAnErrorWithoutInternalsInTheAnswer() {
        Response response = new ErrorMapper().io(new IOException("disk full at /var/lib/secret"));

        assertThat(response.getStatus()).isEqualTo(500);
        assertThat(((ApiError) response.getEntity()).error().message()).isEqualTo("Internal error.");
        assertThat(records)
                .anySatisfy(r -> assertThat(r.getLevel().intValue()).isGreaterThanOrEqualTo(Level.SEVERE.intValue()));
    }
}
