package io.flatfare.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Every rendered manifest is a known Kubernetes kind with no field the API does not know. */
class RenderedManifestsTest {

    @Test
    void defaultValuesRenderOnlyKnownKindsWithoutUnknownFields() {
        Manifests manifests = Chart.renderDefaults();

        assertThat(manifests.all())
                .extracting(Manifests.Manifest::kind)
                .contains(
                        "Deployment",
                        "Service",
                        "HorizontalPodAutoscaler",
                        "PodDisruptionBudget",
                        "Job",
                        "ServiceAccount",
                        "ConfigMap");
        assertUniqueNames(manifests);
    }

    @Test
    void gpuValuesRenderOnlyKnownKindsWithoutUnknownFields() {
        Manifests manifests = Chart.renderGpu();

        assertThat(manifests.all())
                .extracting(Manifests.Manifest::kind)
                .contains("StatefulSet", "Ingress", "ServiceMonitor");
        assertThat(manifests.of(Deployment.class))
                .extracting(d -> d.getMetadata().getName())
                .contains(
                        Chart.fullName("inference-llama-70b"),
                        Chart.fullName("inference-mistral-7b"),
                        Chart.fullName("inference-qwen-32b"));
        assertThat(manifests.of(StatefulSet.class)).hasSize(1);
        assertUniqueNames(manifests);
    }

    @Test
    void anUnknownFieldAnywhereIsRejected() throws Exception {
        JsonNode deployment = Chart.YAML.readTree("""
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: x}
                spec:
                  selector: {matchLabels: {a: b}}
                  template:
                    metadata: {labels: {a: b}}
                    spec:
                      containers:
                        - name: c
                          image: i
                          resources: {limits: {cpu: "1"}}
                          readinessProbe: {httpGet: {path: /q/health/ready, port: http}, periodSecond: 5}
                """);

        assertThatThrownBy(() -> TypedKinds.read(deployment))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("periodSecond");
    }

    @Test
    void aValueOfTheWrongTypeIsRejected() throws Exception {
        JsonNode service = Chart.YAML.readTree("""
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: x}
                data: {port: 8080}
                """);

        assertThatThrownBy(() -> TypedKinds.read(service))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("data.port");
    }

    @Test
    void anUnknownKindIsRejected() throws Exception {
        JsonNode unknown = Chart.YAML.readTree("""
                apiVersion: example.com/v1
                kind: Widget
                metadata: {name: x}
                """);

        assertThatThrownBy(() -> TypedKinds.read(unknown))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("unknown kind example.com/v1/Widget");
    }

    private static void assertUniqueNames(Manifests manifests) {
        Set<String> seen = new HashSet<>();
        for (Manifests.Manifest m : manifests.all()) {
            assertThat(seen.add(m.kind() + "/" + m.name()))
                    .as("duplicate %s/%s", m.kind(), m.name())
                    .isTrue();
            assertThat(m.name()).as("name length of %s", m.name()).hasSizeLessThanOrEqualTo(63);
        }
    }
}
