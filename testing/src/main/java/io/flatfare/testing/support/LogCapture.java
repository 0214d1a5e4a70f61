package io.flatfare.testing.support;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * The records a logger (and those below it) publishes while the capture is open, for tests that assert what was
 * logged: a warning that must not appear, an error that must. It listens through {@code java.util.logging}, which
 * the JBoss LogManager of a Quarkus application implements, so it sees what the application logs through JBoss
 * Logging, SLF4J or JUL alike. Closing it detaches it and gives the logger its level back.
 *
 * <pre>{@code
 * try (LogCapture netty = LogCapture.of("io.netty", Level.WARNING)) {
 *     ...
 *     assertThat(netty.messages()).isEmpty();
 * }
 * }</pre>
 */
public final class LogCapture implements AutoCloseable {

    private final Logger logger;
    private final Level previousLevel;
    private final boolean levelChanged;
    private final List<LogRecord> records = new CopyOnWriteArrayList<>();
    private final Handler handler;

    private LogCapture(Logger logger, Level atLeast, boolean lowerLoggerLevel) {
        this.logger = logger;
        this.previousLevel = logger.getLevel();
        this.handler = new Handler() {
            @Override
            public void publish(LogRecord record) {
                if (record.getLevel().intValue() >= atLeast.intValue()) {
                    records.add(record);
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        this.levelChanged = lowerLoggerLevel;
        if (lowerLoggerLevel) {
            logger.setLevel(atLeast);
        }
        logger.addHandler(handler);
    }

    /** Records of {@code atLeast} and above from the logger named {@code name}, at the level it logs at now. */
    public static LogCapture of(String name, Level atLeast) {
        return new LogCapture(Logger.getLogger(name), atLeast, false);
    }

    /**
     * Records of {@code atLeast} and above, the logger set to log from that level while the capture is open: for
     * messages it logs below its configured level (such as a library that warns once per JVM, then at debug level).
     */
    public static LogCapture lowering(String name, Level atLeast) {
        return new LogCapture(Logger.getLogger(name), atLeast, true);
    }

    /** What was captured so far, in the order it was logged. */
    public List<LogRecord> records() {
        return List.copyOf(records);
    }

    /** Each captured record's message and, where it has one, its exception, as one line per record. */
    public List<String> messages() {
        return records.stream()
                .map(r -> r.getThrown() == null ? r.getMessage() : r.getMessage() + " " + r.getThrown())
                .toList();
    }

    @Override
    public void close() {
        logger.removeHandler(handler);
        if (levelChanged) {
            logger.setLevel(previousLevel);
        }
    }
}
