package io.flatfare.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.ConfigMap;
import java.io.IOException;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The Grafana dashboard queries metrics the services really export, and shows every Flatfare metric. */
class DashboardTest {

    private static final Pattern QUERIED = Pattern.compile("\\bflatfare_[a-z_]+");

    @Test
    void everyQueriedFlatfareMetricIsExportedAndEveryExportedOneIsShown() throws IOException {
        Set<String> meters = ExportedMetrics.metersInCode();
        assertThat(meters)
                .contains(
                        "flatfare.gateway.requests",
                        "flatfare.inference.slots.busy",
                        "flatfare.registry.instances.live");

        JsonNode dashboard = new ObjectMapper()
                .readTree(Chart.DIR.resolve("dashboards/flatfare.json").toFile());
        Set<String> queried = new TreeSet<>();
        dashboard
                .path("panels")
                .forEach(panel -> panel.path("targets").forEach(target -> {
                    Matcher m = QUERIED.matcher(target.path("expr").asText());
                    while (m.find()) {
                        queried.add(m.group());
                    }
                }));
        dashboard.path("templating").path("list").forEach(variable -> {
            Matcher m = QUERIED.matcher(variable.path("definition").asText());
            while (m.find()) {
                queried.add(m.group());
            }
        });

        Set<String> exported = new HashSet<>();
        for (String meter : meters) {
            exported.addAll(ExportedMetrics.prometheusNames(meter));
        }
        assertThat(exported).as("Prometheus names of the services' meters").containsAll(queried);

        Set<String> shown = new HashSet<>();
        for (String meter : meters) {
            if (ExportedMetrics.prometheusNames(meter).stream().anyMatch(queried::contains)) {
                shown.add(meter);
            }
        }
        assertThat(shown).as("meters on the dashboard").containsExactlyInAnyOrderElementsOf(meters);
    }

    @Test
    void theConfigMapCarriesTheDashboardForTheGrafanaSidecar() throws IOException {
        ConfigMap map = Chart.renderDefaults().configMap(Chart.fullName("dashboard"));

        assertThat(map.getMetadata().getLabels()).containsEntry("grafana_dashboard", "1");
        JsonNode inMap = new ObjectMapper().readTree(map.getData().get("flatfare.json"));
        assertThat(inMap)
                .isEqualTo(new ObjectMapper()
                        .readTree(Chart.DIR.resolve("dashboards/flatfare.json").toFile()));
        assertThat(Chart.renderWith(Map.of("monitoring.dashboard.enabled", false))
                        .find(ConfigMap.class, Chart.fullName("dashboard")))
                .isEmpty();
    }
}
