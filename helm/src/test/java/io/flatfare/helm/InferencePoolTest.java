package io.flatfare.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Files;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Inference pools: GPUs, probes for a 70B load, no scale to zero, a PDB, a drain longer than the streams. */
class InferencePoolTest {

    private static final List<String> POOLS = List.of("llama-70b", "mistral-7b", "qwen-32b");

    private final Manifests gpu = Chart.renderGpu();

    @Test
    void everyPoolRequestsItsGpus() {
        Map<String, Integer> gpus = Map.of("llama-70b", 2, "mistral-7b", 1, "qwen-32b", 1);
        for (String pool : POOLS) {
            Container c = inference(pool);
            Quantity expected = new Quantity(String.valueOf(gpus.get(pool)));
            assertThat(c.getResources().getLimits()).as(pool).containsEntry("nvidia.com/gpu", expected);
            assertThat(c.getResources().getRequests()).as(pool).containsEntry("nvidia.com/gpu", expected);
            assertThat(c.getResources().getLimits()).as(pool).containsKey("memory");
            assertThat(spec(pool).getTolerations())
                    .as(pool)
                    .anySatisfy(t -> assertThat(t.getKey()).isEqualTo("nvidia.com/gpu"));
        }
        assertThat(spec("llama-70b").getNodeSelector())
                .containsEntry("nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3");
        assertThat(spec("llama-70b").getAffinity().getPodAntiAffinity()).isNotNull();
    }

    @Test
    void aCpuPoolHasNoGpuResource() {
        Manifests cpu = Chart.renderWith(Map.of(), Chart.MODULE.resolve("src/test/resources/cpu-pool-values.yaml"));
        Container c = Manifests.container(
                cpu.get(Deployment.class, Chart.fullName("inference-tiny"))
                        .getSpec()
                        .getTemplate(),
                "inference");

        assertThat(c.getResources().getLimits()).doesNotContainKey("nvidia.com/gpu");
        assertThat(c.getResources().getRequests()).doesNotContainKey("nvidia.com/gpu");
    }

    @Test
    void startupWaitsForAWarmModelLongEnoughForA70bLoadAndReadinessMeansLoadedAndWarm() {
        for (String pool : POOLS) {
            Container c = inference(pool);
            Probe startup = c.getStartupProbe();
            assertThat(startup.getHttpGet().getPath()).as(pool).isEqualTo("/q/health/ready");
            assertThat(startup.getPeriodSeconds() * startup.getFailureThreshold())
                    .as("%s: seconds a model may take to load", pool)
                    .isGreaterThanOrEqualTo(1800);
            assertThat(c.getReadinessProbe().getHttpGet().getPath()).as(pool).isEqualTo("/q/health/ready");
            assertThat(c.getLivenessProbe().getHttpGet().getPath()).as(pool).isEqualTo("/q/health/live");
        }
        Probe llama = inference("llama-70b").getStartupProbe();
        assertThat(llama.getPeriodSeconds() * llama.getFailureThreshold()).isEqualTo(3600);
    }

    @Test
    void neverScaledToZeroAndNeverLosingCapacityInARollout() {
        assertThat(deployment("llama-70b").getSpec().getReplicas()).isEqualTo(2);
        assertThat(deployment("mistral-7b").getSpec().getReplicas()).isEqualTo(1);
        for (String pool : POOLS) {
            assertThat(deployment(pool).getSpec().getReplicas()).as(pool).isGreaterThanOrEqualTo(1);
            assertThat(deployment(pool)
                            .getSpec()
                            .getStrategy()
                            .getRollingUpdate()
                            .getMaxUnavailable()
                            .getIntVal())
                    .as(pool)
                    .isZero();
        }
    }

    @Test
    void everyPoolHasAPdbOverItsPods() {
        for (String pool : POOLS) {
            PodDisruptionBudget pdb = gpu.get(PodDisruptionBudget.class, name(pool));
            Map<String, String> podLabels =
                    deployment(pool).getSpec().getTemplate().getMetadata().getLabels();
            assertThat(podLabels)
                    .as(pool)
                    .containsAllEntriesOf(pdb.getSpec().getSelector().getMatchLabels());
            assertThat(pdb.getSpec().getMaxUnavailable().getIntVal()).as(pool).isEqualTo(1);
            // A pool's selector must not also take another pool's pods.
            for (String other : POOLS) {
                if (!other.equals(pool)) {
                    assertThat(deployment(other)
                                    .getSpec()
                                    .getTemplate()
                                    .getMetadata()
                                    .getLabels())
                            .as("%s selects %s", pool, other)
                            .doesNotContainEntry(
                                    "app.kubernetes.io/component",
                                    pdb.getSpec().getSelector().getMatchLabels().get("app.kubernetes.io/component"));
                }
            }
        }
    }

    @Test
    void terminationGraceOutlastsPreStopAndDrain() {
        for (String pool : POOLS) {
            Container c = inference(pool);
            int drain = seconds(Manifests.envValue(c, "FLATFARE_INFERENCE_DRAIN_TIMEOUT"));
            List<String> preStop = c.getLifecycle().getPreStop().getExec().getCommand();
            assertThat(preStop.get(0)).isEqualTo("sleep");
            int sleep = Integer.parseInt(preStop.get(1));
            assertThat(spec(pool).getTerminationGracePeriodSeconds()).as(pool).isGreaterThan(drain + sleep);
        }
        assertThat(seconds(Manifests.envValue(inference("llama-70b"), "FLATFARE_INFERENCE_DRAIN_TIMEOUT")))
                .isEqualTo(300);
    }

    @Test
    void theModelComesFromTheVolumeTheValuesChoose() {
        Volume pvc = volume("llama-70b", "model");
        assertThat(pvc.getPersistentVolumeClaim().getClaimName()).isEqualTo("flatfare-models");
        assertThat(pvc.getPersistentVolumeClaim().getReadOnly()).isTrue();
        VolumeMount mount = modelMount("llama-70b");
        assertThat(mount.getSubPath()).isEqualTo("llama-3.3-70b");
        assertThat(mount.getReadOnly()).isTrue();

        assertThat(volume("mistral-7b", "model").getHostPath().getPath()).isEqualTo("/var/lib/flatfare/models");

        Volume download = volume("qwen-32b", "model");
        assertThat(download.getEphemeral().getVolumeClaimTemplate().getSpec().getStorageClassName())
                .isEqualTo("fast-ssd");
        Container fetch = spec("qwen-32b").getInitContainers().get(0);
        assertThat(Manifests.envValue(fetch, "MODEL_URL"))
                .isEqualTo("https://models.example.com/qwen3-32b-q4_k_m.gguf");
        assertThat(Manifests.envValue(fetch, "MODEL_FILE")).isEqualTo("qwen3-32b-q4_k_m.gguf");
        WiringTest.assertSecretRef(fetch, "MODEL_TOKEN", "flatfare-model-download", "token");
        assertThat(fetch.getVolumeMounts())
                .anySatisfy(m -> assertThat(m.getName()).isEqualTo("model"));
        assertThat(spec("llama-70b").getInitContainers()).isEmpty();
    }

    /** The pool's settings land on the inference service's real keys (read from its config mapping). */
    @Test
    void poolSettingsMapOntoTheInferenceServicesConfigKeys() throws IOException {
        Set<String> modelKeys = new HashSet<>();
        Set<String> instanceKeys = new HashSet<>();
        readConfigMapping(modelKeys, instanceKeys);
        assertThat(modelKeys).contains("path", "slots", "context", "gpu-layers", "flash-attention");

        Properties llama = properties("llama-70b");
        String prefix = "flatfare.inference.models.\"llama-3.3-70b\".";
        assertThat(llama.getProperty(prefix + "path")).isEqualTo("/models/llama-3.3-70b-instruct-q4_k_m.gguf");
        assertThat(llama.getProperty(prefix + "slots")).isEqualTo("8");
        assertThat(llama.getProperty(prefix + "context")).isEqualTo("8192");
        assertThat(llama.getProperty(prefix + "threads")).isEqualTo("8");
        assertThat(llama.getProperty(prefix + "gpu-layers")).isEqualTo("-1");
        assertThat(llama.getProperty(prefix + "flash-attention")).isEqualTo("true");
        assertThat(properties("mistral-7b").getProperty("flatfare.inference.models.\"mistral-7b\".flash-attention"))
                .isEqualTo("false");
        assertThat(llama.getProperty("flatfare.inference.native-library-path")).isEqualTo("/opt/llama-cuda");
        assertThat(properties("mistral-7b").getProperty("flatfare.inference.models.\"mistral-7b\".slots"))
                .isEqualTo("16");

        for (String pool : POOLS) {
            for (String key : properties(pool).stringPropertyNames()) {
                Matcher model = Pattern.compile("flatfare\\.inference\\.models\\.\"[a-z0-9._-]+\"\\.(.+)")
                        .matcher(key);
                if (model.matches()) {
                    assertThat(modelKeys).as("%s in pool %s", key, pool).contains(model.group(1));
                } else {
                    assertThat(key).startsWith("flatfare.inference.");
                    assertThat(instanceKeys)
                            .as("%s in pool %s", key, pool)
                            .contains(key.substring("flatfare.inference.".length()));
                }
            }
            Container c = inference(pool);
            assertThat(Manifests.envValue(c, "QUARKUS_CONFIG_LOCATIONS"))
                    .isEqualTo("/etc/flatfare/inference.properties");
            assertThat(c.getVolumeMounts())
                    .anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/etc/flatfare"));
        }
    }

    private Properties properties(String pool) throws IOException {
        Properties p = new Properties();
        p.load(new StringReader(gpu.configMap(name(pool)).getData().get("inference.properties")));
        return p;
    }

    /** Property names of InferenceConfig and its ModelConfig: @WithName, else the method name in kebab case. */
    private static void readConfigMapping(Set<String> modelKeys, Set<String> instanceKeys) throws IOException {
        String source = Files.readString(Chart.REPOSITORY.resolve(
                "inference-service/src/main/java/io/flatfare/inference/config/InferenceConfig.java"));
        int modelStart = source.indexOf("interface ModelConfig");
        int modelEnd = source.indexOf("interface Registry");
        Pattern method =
                Pattern.compile("(?:@WithName\\(\"([^\"]+)\"\\)\\s+(?:@\\w+\\([^)]*\\)\\s+)*)?[\\w<>.]+ (\\w+)\\(\\);");
        Matcher m = method.matcher(source);
        while (m.find()) {
            String name = m.group(1) != null ? m.group(1) : kebab(m.group(2));
            if (m.start() > modelStart && m.start() < modelEnd) {
                modelKeys.add(name);
            } else if (m.start() < modelStart) {
                instanceKeys.add(name);
            }
        }
    }

    private static String kebab(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase();
    }

    private static int seconds(String duration) {
        assertThat(duration).matches("[0-9]+s");
        return Integer.parseInt(duration.substring(0, duration.length() - 1));
    }

    private static String name(String pool) {
        return Chart.fullName("inference-" + pool);
    }

    private Deployment deployment(String pool) {
        return gpu.get(Deployment.class, name(pool));
    }

    private PodSpec spec(String pool) {
        return deployment(pool).getSpec().getTemplate().getSpec();
    }

    private Container inference(String pool) {
        return Manifests.container(deployment(pool).getSpec().getTemplate(), "inference");
    }

    private Volume volume(String pool, String name) {
        return spec(pool).getVolumes().stream()
                .filter(v -> v.getName().equals(name))
                .findFirst()
                .orElseThrow();
    }

    private VolumeMount modelMount(String pool) {
        return inference(pool).getVolumeMounts().stream()
                .filter(v -> v.getName().equals("model"))
                .findFirst()
                .orElseThrow();
    }
}
