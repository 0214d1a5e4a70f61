package io.flatfare.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code helm lint --strict}, as {@code helm lint --strict -f ci/<values>.yaml} would run it. */
class LintTest {

    @Test
    void lintsStrictWithTheRequiredValues() {
        Path chart = Chart.copyWithValues(Chart.MODULE.resolve("target/lint/required/flatfare"), Chart.REQUIRED_VALUES);

        LintResult result = new Helm(chart).lint().strict().call();

        assertThat(result.isFailed())
                .as("lint messages: %s", result.getMessages())
                .isFalse();
    }

    @Test
    void lintsStrictWithTheGpuValues() {
        Path chart = Chart.copyWithValues(
                Chart.MODULE.resolve("target/lint/gpu/flatfare"), Chart.REQUIRED_VALUES, Chart.GPU_VALUES);

        LintResult result = new Helm(chart).lint().strict().call();

        assertThat(result.isFailed())
                .as("lint messages: %s", result.getMessages())
                .isFalse();
    }

    @Test
    void theBareChartFailsLintNamingTheMissingConnections() {
        // The defaults leave Kafka, Redis, the databases and the Secrets empty on purpose: nothing is guessed.
        LintResult result = new Helm(Chart.DIR).lint().strict().call();

        assertThat(result.isFailed()).isTrue();
        assertThat(String.join("\n", result.getMessages()))
                .contains("bootstrapServers")
                .contains("jdbcUrl")
                .contains("existingSecret");
    }
}
