package io.flatfare.gateway.api;

import io.quarkus.logging.LoggingFilter;
import io.vertx.core.http.HttpClosedException;
import java.io.IOException;
import java.util.logging.Filter;
import java.util.logging.LogRecord;

/**
 * Keeps a client that leaves in the middle of a stream out of the ERROR log. RESTEasy logs every write to a connection
 * the client reset while a stream was being sent ("Exception in SSE server handling, impossible to send it to
 * client") at ERROR with its stack trace, though nothing failed on this side: the call ends as cancelled by the
 * client, in its usage event and metrics, like any other client that leaves. Any other failure of that handler is
 * still logged. Applied to the console handler ({@code quarkus.log.console.filter=client-gone}).
 */
@LoggingFilter(name = "client-gone")
public final class ClientGoneLogFilter implements Filter {

    static final String STREAM_WRITER = "org.jboss.resteasy.reactive.server.handlers.PublisherResponseHandler";

    @Override
    public boolean isLoggable(LogRecord record) {
        return !(STREAM_WRITER.equals(record.getLoggerName()) && connectionLost(record.getThrown()));
    }

    private static boolean connectionLost(Throwable thrown) {
        for (Throwable cause = thrown; cause != null; cause = cause.getCause()) {
            if (cause instanceof IOException || cause instanceof HttpClosedException) {
                return true;
            }
        }
        return false;
    }
}
