package io.flatfare.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import java.io.IOException;
import java.nio.file.Files;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The Job that creates the topics: a Helm hook, the contracts' topic names, partitions and retention from values. */
class KafkaTopicsJobTest {

    private static final String JOB = Chart.fullName("kafka-topics");

    @Test
    void isAPreInstallAndPreUpgradeHook() throws IOException {
        String template = Files.readString(Chart.DIR.resolve("templates/kafka-topics-job.yaml"));

        assertThat(template)
                .contains("helm.sh/hook: pre-install,pre-upgrade")
                .contains("helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded");
        Job job = Chart.renderDefaults().get(Job.class, JOB);
        assertThat(job.getMetadata().getAnnotations()).containsEntry(Chart.RENAMED_HOOK, "pre-install,pre-upgrade");
    }

    @Test
    void createsExactlyTheTopicsTheContractsName() throws IOException {
        String topics = Files.readString(
                Chart.REPOSITORY.resolve("contracts/src/main/java/io/flatfare/contracts/events/Topics.java"));
        Set<String> contractTopics = new LinkedHashSet<>();
        Matcher constant = Pattern.compile("static final String (USAGE|USAGE_DLQ|RATED_USAGE) = \"([^\"]+)\"")
                .matcher(topics);
        while (constant.find()) {
            contractTopics.add(constant.group(2));
        }
        assertThat(contractTopics).hasSize(3);

        String script = script(Chart.renderDefaults().get(Job.class, JOB));
        Set<String> created = new LinkedHashSet<>();
        Matcher call = Pattern.compile("(?m)^topic (\\S+) ").matcher(script);
        while (call.find()) {
            created.add(call.group(1));
        }
        assertThat(created).containsExactlyInAnyOrderElementsOf(contractTopics);
    }

    @Test
    void partitionsRetentionAndReplicationComeFromValues() {
        Job job = Chart.renderWith(Map.of(
                        "kafka.topics.usage.partitions", 36,
                        "kafka.topics.usageDlq.retentionMs", 86400000,
                        "kafka.topics.ratedUsage.retentionMs", -1,
                        "kafka.topics.replicationFactor", 2,
                        "metering.replicaCount", 3))
                .get(Job.class, JOB);
        String script = script(job);

        assertThat(script)
                .contains("topic flatfare.usage.v1 36 604800000")
                .contains("topic flatfare.usage.v1.dlq 3 86400000")
                .contains("topic flatfare.rated-usage.v1 12 -1");
        Container container =
                job.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(Manifests.envValue(container, "REPLICATION_FACTOR")).isEqualTo("2");
        assertThat(Manifests.envValue(container, "FLATFARE_KAFKA_BOOTSTRAP_SERVERS"))
                .isEqualTo("kafka-0.kafka:9092,kafka-1.kafka:9092");
    }

    @Test
    void canBeLeftOut() {
        assertThat(Chart.renderWith(Map.of("kafka.topics.create", false)).find(Job.class, JOB))
                .isEmpty();
    }

    private static String script(Job job) {
        return String.join(
                "\n",
                job.getSpec().getTemplate().getSpec().getContainers().get(0).getArgs());
    }
}
