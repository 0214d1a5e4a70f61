package io.flatfare.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.Rule;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The alerts query metrics the services really export, in this release's namespace, and carry what routes them. */
class AlertsTest {

    private static final Pattern FLATFARE_METRIC = Pattern.compile("\\bflatfare_[a-z_]+");

    /** A metric name followed by its label selector. */
    private static final Pattern SELECTOR = Pattern.compile("\\b([a-z_]+)\\{([^}]*)}");

    private static List<Rule> rules(PrometheusRule rule) {
        return rule.getSpec().getGroups().stream()
                .flatMap(group -> group.getRules().stream())
                .toList();
    }

    @Test
    void offByDefaultAndOnWithItsLabels() {
        assertThat(Chart.renderDefaults().of(PrometheusRule.class)).isEmpty();

        Manifests gpu = Chart.renderGpu();
        PrometheusRule rule = gpu.of(PrometheusRule.class).getFirst();
        assertThat(rule.getMetadata().getName())
                .isEqualTo(gpu.of(ServiceMonitor.class).getFirst().getMetadata().getName());
        assertThat(rule.getMetadata().getLabels()).containsEntry("release", "prometheus");
        assertThat(rules(rule))
                .extracting(Rule::getAlert)
                .contains(
                        "FlatfareUsageUnrateable",
                        "FlatfareUsageInvalidRecords",
                        "FlatfareUsageDeliveryDelayed",
                        "FlatfareMeteringLagging",
                        "FlatfareNoLiveInferenceInstances",
                        "FlatfareGatewayServerErrors",
                        "FlatfareInferenceAtCapacity");
        for (Rule alert : rules(rule)) {
            assertThat(alert.getLabels())
                    .as(alert.getAlert())
                    .containsEntry("team", "platform")
                    .containsKey("severity");
            assertThat(alert.getLabels().get("severity")).isIn("warning", "critical");
            assertThat(alert.getAnnotations()).as(alert.getAlert()).containsKeys("summary", "description");
        }
    }

    @Test
    void everyAlertQueriesExportedMetricsOfThisReleaseOnly() throws IOException {
        Set<String> exported = ExportedMetrics.prometheusNames();
        Set<String> queried = new TreeSet<>();
        for (Rule alert : rules(Chart.renderGpu().of(PrometheusRule.class).getFirst())) {
            String expr = alert.getExpr().getStrVal();
            Matcher metric = FLATFARE_METRIC.matcher(expr);
            while (metric.find()) {
                queried.add(metric.group());
            }
            Matcher selector = SELECTOR.matcher(expr);
            int selectors = 0;
            while (selector.find()) {
                selectors++;
                assertThat(selector.group(2))
                        .as("%s: %s", alert.getAlert(), selector.group(1))
                        .contains("namespace=\"" + Chart.NAMESPACE + "\"");
            }
            assertThat(selectors).as(alert.getAlert()).isPositive();
            assertThat(count(expr, '(')).as("%s: parentheses", alert.getAlert()).isEqualTo(count(expr, ')'));
            // Prometheus' own template syntax survives Helm's rendering.
            assertThat(alert.getAnnotations().get("description")).doesNotContain("{{`");
        }
        assertThat(queried).isNotEmpty();
        assertThat(exported).as("Prometheus names of the services' meters").containsAll(queried);
    }

    @Test
    void theUnbilledUsageAlertSaysHowToBillIt() {
        Rule unrateable = rules(Chart.renderWith(Map.of("monitoring.prometheusRule.enabled", true))
                        .of(PrometheusRule.class)
                        .getFirst())
                .stream()
                .filter(r -> r.getAlert().equals("FlatfareUsageUnrateable"))
                .findFirst()
                .orElseThrow();
        assertThat(unrateable.getExpr().getStrVal())
                .contains("flatfare_metering_dead_letters_total")
                .contains("cause=\"unrateable\"");
        assertThat(unrateable.getAnnotations().get("description"))
                .contains("{{ $value | humanize }}")
                .contains("/admin/price-tiers/")
                .contains("/admin/dead-letters/replay");
    }

    private static long count(String text, char c) {
        return text.chars().filter(ch -> ch == c).count();
    }
}
