package io.flatfare.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Non-root, read-only root file systems with a writable /tmp, resources on every container, one ServiceAccount. */
class SecurityTest {

    @Test
    void everyPodRunsAsNonRootWithAReadOnlyRootFileSystem() {
        for (Manifests m : new Manifests[] {Chart.renderDefaults(), Chart.renderGpu()}) {
            for (PodTemplateSpec t : m.podTemplates()) {
                assertThat(t.getSpec().getSecurityContext().getRunAsNonRoot()).isTrue();
                assertThat(t.getSpec().getSecurityContext().getRunAsUser()).isNotZero();
                assertThat(t.getSpec().getAutomountServiceAccountToken()).isFalse();
                assertThat(t.getSpec().getVolumes())
                        .anySatisfy(v -> assertThat(v.getEmptyDir()).isNotNull());
            }
            for (Container c : m.containers()) {
                assertThat(c.getSecurityContext().getReadOnlyRootFilesystem())
                        .as(c.getName())
                        .isTrue();
                assertThat(c.getSecurityContext().getAllowPrivilegeEscalation())
                        .as(c.getName())
                        .isFalse();
                assertThat(c.getSecurityContext().getCapabilities().getDrop())
                        .as(c.getName())
                        .contains("ALL");
                assertThat(c.getVolumeMounts())
                        .as(c.getName())
                        .anySatisfy(v -> assertThat(v.getMountPath()).isEqualTo("/tmp"));
            }
        }
    }

    @Test
    void everyContainerHasResourceRequestsAndAMemoryLimit() {
        for (Manifests m : new Manifests[] {Chart.renderDefaults(), Chart.renderGpu()}) {
            for (Container c : m.containers()) {
                assertThat(c.getResources().getRequests()).as(c.getName()).containsKeys("cpu", "memory");
                assertThat(c.getResources().getLimits()).as(c.getName()).containsKey("memory");
            }
        }
    }

    @Test
    void theServicesRunAsTheChartsServiceAccount() {
        Manifests m = Chart.renderGpu();
        String account = m.of(ServiceAccount.class).get(0).getMetadata().getName();

        Stream.concat(
                        m.of(Deployment.class).stream().map(d -> d.getSpec().getTemplate()),
                        m.of(StatefulSet.class).stream().map(s -> s.getSpec().getTemplate()))
                .forEach(t -> assertThat(t.getSpec().getServiceAccountName()).isEqualTo(account));
    }
}
