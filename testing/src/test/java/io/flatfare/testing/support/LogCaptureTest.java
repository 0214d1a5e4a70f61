package io.flatfare.testing.support;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;

class LogCaptureTest {

    private static final String NAME = "io.flatfare.testing.support.LogCaptureTest.subject";

    @Test
    void capturesWhatItsLoggerAndThoseBelowLogFromItsLevelUpWhileOpen() {
        Logger logger = Logger.getLogger(NAME);
        Logger child = Logger.getLogger(NAME + ".child");
        logger.info("before");
        try (LogCapture capture = LogCapture.of(NAME, Level.WARNING)) {
            logger.info("too low");
            logger.warning("a warning");
            child.log(Level.SEVERE, "from below", new IllegalStateException("boom"));
            Logger.getLogger("io.flatfare.elsewhere").severe("another logger");

            assertThat(capture.messages())
                    .containsExactly("a warning", "from below java.lang.IllegalStateException: boom");
            assertThat(capture.records()).extracting(r -> r.getLevel()).containsExactly(Level.WARNING, Level.SEVERE);
            logger.warning("after close");
            capture.close();
            logger.warning("closed");
            assertThat(capture.messages()).hasSize(3).doesNotContain("closed");
        }
    }

    @Test
    void loweringLetsTheLoggerLogBelowItsLevelUntilClosed() {
        Logger logger = Logger.getLogger(NAME + ".quiet");
        logger.setLevel(Level.WARNING);
        try {
            try (LogCapture capture = LogCapture.lowering(NAME + ".quiet", Level.FINE)) {
                logger.fine("said once at debug level");
                assertThat(capture.messages()).containsExactly("said once at debug level");
            }
            assertThat(logger.getLevel()).isEqualTo(Level.WARNING);
        } finally {
            logger.setLevel(null);
        }
    }
}
