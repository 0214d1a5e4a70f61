package io.flatfare.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The gateway: HPA, PDB, a drain before SIGTERM ends it, and its usage journal on the volume the values choose. */
class GatewayTest {

    private static final String GATEWAY = Chart.fullName("gateway");

    @Test
    void scalesWithAnHpaAndKeepsOnePodThroughDisruptions() {
        Manifests m = Chart.renderDefaults();
        Deployment gateway = m.get(Deployment.class, GATEWAY);

        HorizontalPodAutoscaler hpa = m.get(HorizontalPodAutoscaler.class, GATEWAY);
        assertThat(hpa.getSpec().getScaleTargetRef().getKind()).isEqualTo("Deployment");
        assertThat(hpa.getSpec().getScaleTargetRef().getName()).isEqualTo(GATEWAY);
        assertThat(hpa.getSpec().getMinReplicas()).isEqualTo(2);
        assertThat(hpa.getSpec().getMaxReplicas()).isEqualTo(10);
        assertThat(hpa.getSpec().getMetrics().get(0).getResource().getName()).isEqualTo("cpu");
        // The HPA owns the replica count; a fixed one would fight it on every upgrade.
        assertThat(gateway.getSpec().getReplicas()).isNull();

        PodDisruptionBudget pdb = m.get(PodDisruptionBudget.class, GATEWAY);
        assertThat(pdb.getSpec().getMinAvailable().getIntVal()).isEqualTo(1);
        assertThat(gateway.getSpec().getTemplate().getMetadata().getLabels())
                .containsAllEntriesOf(pdb.getSpec().getSelector().getMatchLabels());
    }

    @Test
    void withoutAutoscalingTheReplicaCountIsFixed() {
        Manifests m = Chart.renderWith(Map.of("gateway.autoscaling.enabled", false, "gateway.replicaCount", 3));

        assertThat(m.get(Deployment.class, GATEWAY).getSpec().getReplicas()).isEqualTo(3);
        assertThat(m.find(HorizontalPodAutoscaler.class, GATEWAY)).isEmpty();
    }

    @Test
    void terminationGraceOutlastsPreStopDrainAndTheUsageFlush() {
        Manifests m =
                Chart.renderWith(Map.of("gateway.drainTimeoutSeconds", 120, "gateway.usageShutdownTimeoutSeconds", 20));
        PodTemplateSpec template = m.get(Deployment.class, GATEWAY).getSpec().getTemplate();
        Container c = Manifests.container(template, "gateway");

        assertThat(Manifests.envValue(c, "FLATFARE_GATEWAY_DRAIN_TIMEOUT")).isEqualTo("120s");
        assertThat(Manifests.envValue(c, "FLATFARE_GATEWAY_USAGE_SHUTDOWN_TIMEOUT"))
                .isEqualTo("20s");
        assertThat(c.getLifecycle().getPreStop().getExec().getCommand()).containsExactly("sleep", "5");
        assertThat(template.getSpec().getTerminationGracePeriodSeconds()).isGreaterThan(5 + 120 + 20);
    }

    @Test
    void streamKeepAliveReachesTheGateway() {
        assertThat(gatewayEnv(Map.of(), "FLATFARE_GATEWAY_STREAM_KEEP_ALIVE")).isEqualTo("15s");
        assertThat(gatewayEnv(Map.of("gateway.streamKeepAlive", "0s"), "FLATFARE_GATEWAY_STREAM_KEEP_ALIVE"))
                .isEqualTo("0s");
    }

    @Test
    void bodyTimeoutReachesTheGateway() {
        assertThat(gatewayEnv(Map.of(), "FLATFARE_GATEWAY_BODY_TIMEOUT")).isEqualTo("60s");
        assertThat(gatewayEnv(Map.of("gateway.bodyTimeout", "5m"), "FLATFARE_GATEWAY_BODY_TIMEOUT"))
                .isEqualTo("5m");
    }

    @Test
    void maxPromptsReachesTheGatewayAndMustBePositive() {
        assertThat(gatewayEnv(Map.of(), "FLATFARE_GATEWAY_MAX_PROMPTS")).isEqualTo("8");
        assertThat(gatewayEnv(Map.of("gateway.maxPrompts", 1), "FLATFARE_GATEWAY_MAX_PROMPTS"))
                .isEqualTo("1");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Chart.renderWith(Map.of("gateway.maxPrompts", 0)))
                .hasMessageContaining("maxPrompts");
    }

    /** The gateway container's environment variable {@code name}, the chart rendered with {@code values}. */
    private static String gatewayEnv(Map<String, Object> values, String name) {
        var template = (values.isEmpty() ? Chart.renderDefaults() : Chart.renderWith(values))
                .get(Deployment.class, GATEWAY)
                .getSpec()
                .getTemplate();
        return Manifests.envValue(Manifests.container(template, "gateway"), name);
    }

    @Test
    void storedResponsesAreOnForThirtyDaysUnlessConfigured() {
        Container byDefault = Manifests.container(
                Chart.renderDefaults().get(Deployment.class, GATEWAY).getSpec().getTemplate(), "gateway");
        assertThat(Manifests.envValue(byDefault, "FLATFARE_GATEWAY_RESPONSES_STORE"))
                .isEqualTo("true");
        assertThat(Manifests.envValue(byDefault, "FLATFARE_GATEWAY_RESPONSES_RETENTION"))
                .isEqualTo("30d");

        Container off = Manifests.container(
                Chart.renderWith(Map.of(
                                "gateway.storedResponses.enabled", false, "gateway.storedResponses.retention", "7d"))
                        .get(Deployment.class, GATEWAY)
                        .getSpec()
                        .getTemplate(),
                "gateway");
        assertThat(Manifests.envValue(off, "FLATFARE_GATEWAY_RESPONSES_STORE")).isEqualTo("false");
        assertThat(Manifests.envValue(off, "FLATFARE_GATEWAY_RESPONSES_RETENTION"))
                .isEqualTo("7d");
    }

    @Test
    void corsIsOffUnlessOriginsAreListed(@TempDir Path dir) throws IOException {
        Container byDefault = Manifests.container(
                Chart.renderDefaults().get(Deployment.class, GATEWAY).getSpec().getTemplate(), "gateway");
        assertThat(Manifests.env(byDefault, "FLATFARE_GATEWAY_CORS_ENABLED")).isEmpty();
        assertThat(Manifests.env(byDefault, "FLATFARE_GATEWAY_CORS_ORIGINS")).isEmpty();

        Container on = Manifests.container(
                Chart.renderWith(Map.of(), Files.writeString(dir.resolve("cors.yaml"), """
                                gateway:
                                  corsOrigins: ["https://app.example.com", "/https://.*[.]example[.]org/"]
                                """))
                        .get(Deployment.class, GATEWAY)
                        .getSpec()
                        .getTemplate(),
                "gateway");
        assertThat(Manifests.envValue(on, "FLATFARE_GATEWAY_CORS_ENABLED")).isEqualTo("true");
        assertThat(Manifests.envValue(on, "FLATFARE_GATEWAY_CORS_ORIGINS"))
                .isEqualTo("https://app.example.com,/https://.*[.]example[.]org/");
    }

    @Test
    void usageJournalIsAnEmptyDirByDefault() {
        PodTemplateSpec template =
                Chart.renderDefaults().get(Deployment.class, GATEWAY).getSpec().getTemplate();
        Container c = Manifests.container(template, "gateway");

        String journal = Manifests.envValue(c, "FLATFARE_GATEWAY_USAGE_JOURNAL_DIR");
        assertThat(c.getVolumeMounts()).anySatisfy(mount -> {
            assertThat(mount.getName()).isEqualTo("usage-journal");
            assertThat(journal).startsWith(mount.getMountPath() + "/");
        });
        Volume volume = template.getSpec().getVolumes().stream()
                .filter(v -> v.getName().equals("usage-journal"))
                .findFirst()
                .orElseThrow();
        assertThat(volume.getEmptyDir().getSizeLimit()).isEqualTo(new Quantity("2Gi"));
    }

    @Test
    void theGatewayRefusesRequestsBeforeItsJournalFillsItsVolume() {
        // Three quarters of the volume: 2Gi by default.
        assertThat(gatewayEnv(Map.of(), "FLATFARE_GATEWAY_USAGE_MAX_SIZE")).isEqualTo("1610612736");
        assertThat(gatewayEnv(Map.of("gateway.usageJournal.sizeLimit", "1.5G"), "FLATFARE_GATEWAY_USAGE_MAX_SIZE"))
                .isEqualTo("1125000000");
        assertThat(gatewayEnv(Map.of("gateway.usageJournal.sizeLimit", "256Mi"), "FLATFARE_GATEWAY_USAGE_MAX_SIZE"))
                .isEqualTo("201326592");
        // With a claim per pod, the claim's size counts: 5Gi in the GPU values.
        Container persistent = Manifests.container(
                Chart.renderGpu().get(StatefulSet.class, GATEWAY).getSpec().getTemplate(), "gateway");
        assertThat(Manifests.envValue(persistent, "FLATFARE_GATEWAY_USAGE_MAX_SIZE"))
                .isEqualTo("4026531840");
        org.assertj.core.api.Assertions.assertThatThrownBy(
                        () -> Chart.renderWith(Map.of("gateway.usageJournal.sizeLimit", "2e9")))
                .hasMessageContaining("2e9: a size in bytes or with one of the units");
    }

    @Test
    void persistentUsageJournalMakesTheGatewayAStatefulSetWithAClaimPerPod() {
        Manifests m = Chart.renderGpu();

        assertThat(m.find(Deployment.class, GATEWAY)).isEmpty();
        StatefulSet gateway = m.get(StatefulSet.class, GATEWAY);
        PersistentVolumeClaim claim =
                gateway.getSpec().getVolumeClaimTemplates().get(0);
        assertThat(claim.getMetadata().getName()).isEqualTo("usage-journal");
        assertThat(claim.getSpec().getStorageClassName()).isEqualTo("fast-ssd");
        assertThat(claim.getSpec().getResources().getRequests()).containsEntry("storage", new Quantity("5Gi"));
        assertThat(gateway.getSpec().getTemplate().getSpec().getVolumes())
                .noneSatisfy(v -> assertThat(v.getName()).isEqualTo("usage-journal"));
        assertThat(m.get(HorizontalPodAutoscaler.class, GATEWAY)
                        .getSpec()
                        .getScaleTargetRef()
                        .getKind())
                .isEqualTo("StatefulSet");
        assertThat(m.find(PodDisruptionBudget.class, GATEWAY)).isPresent();
    }

    @Test
    void ingressRoutesToTheGatewayService() {
        Ingress ingress = Chart.renderGpu().get(Ingress.class, GATEWAY);

        assertThat(ingress.getSpec().getIngressClassName()).isEqualTo("nginx");
        var path = ingress.getSpec().getRules().get(0).getHttp().getPaths().get(0);
        assertThat(path.getPath()).isEqualTo("/v1");
        assertThat(path.getBackend().getService().getName()).isEqualTo(GATEWAY);
        assertThat(ingress.getSpec().getTls().get(0).getSecretName()).isEqualTo("flatfare-api-tls");
        assertThat(Chart.renderDefaults().find(Ingress.class, GATEWAY)).isEmpty();
    }
}
