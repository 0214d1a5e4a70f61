package io.flatfare.helm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.stream.Stream;

/** Rendered manifests: each document as its YAML tree and as its typed Kubernetes kind. */
record Manifests(String text, List<Manifest> all) {

    record Manifest(JsonNode tree, HasMetadata typed) {

        String kind() {
            return typed.getKind();
        }

        String name() {
            return typed.getMetadata().getName();
        }
    }

    static Manifests parse(String rendered) {
        List<Manifest> manifests = new ArrayList<>();
        try (MappingIterator<JsonNode> docs =
                Chart.YAML.readerFor(JsonNode.class).readValues(rendered)) {
            while (docs.hasNext()) {
                JsonNode doc = docs.next();
                if (doc == null || doc.isNull() || doc.isEmpty()) {
                    continue;
                }
                manifests.add(new Manifest(doc, TypedKinds.read(doc)));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Manifests(rendered, List.copyOf(manifests));
    }

    <T extends HasMetadata> List<T> of(Class<T> type) {
        return all.stream()
                .map(Manifest::typed)
                .filter(type::isInstance)
                .map(type::cast)
                .toList();
    }

    <T extends HasMetadata> Optional<T> find(Class<T> type, String name) {
        return of(type).stream()
                .filter(m -> m.getMetadata().getName().equals(name))
                .findFirst();
    }

    <T extends HasMetadata> T get(Class<T> type, String name) {
        return find(type, name)
                .orElseThrow(() -> new NoSuchElementException("no " + type.getSimpleName() + " named " + name + " in "
                        + all.stream().map(m -> m.kind() + "/" + m.name()).toList()));
    }

    /** Every pod template: Deployments, StatefulSets and Jobs. */
    List<PodTemplateSpec> podTemplates() {
        return Stream.of(
                        of(Deployment.class).stream().map(d -> d.getSpec().getTemplate()),
                        of(StatefulSet.class).stream().map(s -> s.getSpec().getTemplate()),
                        of(Job.class).stream().map(j -> j.getSpec().getTemplate()))
                .flatMap(s -> s)
                .toList();
    }

    /** Every container and init container of every pod template. */
    List<Container> containers() {
        return podTemplates().stream()
                .flatMap(t ->
                        Stream.concat(t.getSpec().getContainers().stream(), t.getSpec().getInitContainers().stream()))
                .toList();
    }

    static Optional<EnvVar> env(Container container, String name) {
        return container.getEnv().stream().filter(e -> e.getName().equals(name)).findFirst();
    }

    static String envValue(Container container, String name) {
        return env(container, name)
                .map(EnvVar::getValue)
                .orElseThrow(() -> new NoSuchElementException(container.getName() + " has no env " + name));
    }

    static Container container(PodTemplateSpec template, String name) {
        return template.getSpec().getContainers().stream()
                .filter(c -> c.getName().equals(name))
                .findFirst()
                .orElseThrow();
    }

    ConfigMap configMap(String name) {
        return get(ConfigMap.class, name);
    }
}
