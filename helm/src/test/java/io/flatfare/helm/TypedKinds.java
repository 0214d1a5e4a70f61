package io.flatfare.helm;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.DeserializationConfig;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.deser.BeanDeserializerBuilder;
import com.fasterxml.jackson.databind.deser.BeanDeserializerModifier;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Reads a rendered manifest as its typed Kubernetes kind, strictly.
 *
 * <p>fabric8's model classes keep unknown fields in {@code additionalProperties} (a {@code @JsonAnySetter}), so a
 * misspelt or misplaced field would pass a plain read. This reader removes that any-setter from every fabric8
 * bean, which makes Jackson's {@code FAIL_ON_UNKNOWN_PROPERTIES} apply: an unknown field anywhere fails with its
 * path. The typed object is then written back and compared with the rendered tree, so a value of the wrong type
 * that Jackson coerced (a number where the API wants a string, say) fails too.
 */
final class TypedKinds {

    /** apiVersion/kind → model class. A kind not here fails the test: every rendered kind must be known. */
    static final Map<String, Class<? extends HasMetadata>> KINDS = Map.ofEntries(
            Map.entry("v1/ConfigMap", ConfigMap.class),
            Map.entry("v1/Service", Service.class),
            Map.entry("v1/ServiceAccount", ServiceAccount.class),
            Map.entry("apps/v1/Deployment", Deployment.class),
            Map.entry("apps/v1/StatefulSet", StatefulSet.class),
            Map.entry("batch/v1/Job", Job.class),
            Map.entry("autoscaling/v2/HorizontalPodAutoscaler", HorizontalPodAutoscaler.class),
            Map.entry("policy/v1/PodDisruptionBudget", PodDisruptionBudget.class),
            Map.entry("networking.k8s.io/v1/Ingress", Ingress.class),
            // The Prometheus Operator's CRD, as fabric8 models it.
            Map.entry("monitoring.coreos.com/v1/ServiceMonitor", ServiceMonitor.class),
            Map.entry("monitoring.coreos.com/v1/PrometheusRule", PrometheusRule.class));

    private static final ObjectMapper STRICT = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .registerModule(new SimpleModule("strict-fabric8").setDeserializerModifier(new BeanDeserializerModifier() {
                @Override
                public BeanDeserializerBuilder updateBuilder(
                        DeserializationConfig config, BeanDescription description, BeanDeserializerBuilder builder) {
                    if (description.getBeanClass().getName().startsWith("io.fabric8.")) {
                        builder.setAnySetter(null);
                        builder.setIgnoreUnknownProperties(false);
                    }
                    return builder;
                }
            }));

    private TypedKinds() {}

    static HasMetadata read(JsonNode doc) {
        String apiVersion = doc.path("apiVersion").asText();
        String kind = doc.path("kind").asText();
        Class<? extends HasMetadata> type = KINDS.get(apiVersion + "/" + kind);
        if (type == null) {
            throw new AssertionError("unknown kind " + apiVersion + "/" + kind + " (add it to TypedKinds.KINDS)");
        }
        String where = kind + "/" + doc.path("metadata").path("name").asText();
        HasMetadata typed;
        try {
            typed = STRICT.treeToValue(doc, type);
        } catch (JsonProcessingException e) {
            throw new AssertionError(
                    where + " is not a valid " + type.getSimpleName() + ": " + e.getOriginalMessage() + " at "
                            + e.getLocation(),
                    e);
        }
        List<String> differences = new ArrayList<>();
        compare(normalize(doc), normalize(STRICT.valueToTree(typed)), "", differences);
        if (!differences.isEmpty()) {
            throw new AssertionError(where + " does not survive its typed round trip: " + differences);
        }
        return typed;
    }

    /** Drops nulls and empty maps and lists, which the typed model omits when it writes. */
    static JsonNode normalize(JsonNode node) {
        if (node.isObject()) {
            ObjectNode out = JsonNodeFactory.instance.objectNode();
            Iterator<Map.Entry<String, JsonNode>> fields = node.fields();
            while (fields.hasNext()) {
                Map.Entry<String, JsonNode> field = fields.next();
                JsonNode value = normalize(field.getValue());
                if (!value.isNull() && !(value.isContainerNode() && value.isEmpty())) {
                    out.set(field.getKey(), value);
                }
            }
            return out;
        }
        if (node.isArray()) {
            ArrayNode out = JsonNodeFactory.instance.arrayNode();
            node.forEach(item -> out.add(normalize(item)));
            return out;
        }
        return node;
    }

    /** Structural comparison; numbers compare by value (an int and a long are the same number). */
    static void compare(JsonNode rendered, JsonNode typed, String path, List<String> differences) {
        if (rendered.isNumber() && typed.isNumber()) {
            if (rendered.decimalValue().compareTo(typed.decimalValue()) != 0) {
                differences.add(path + ": " + rendered + " became " + typed);
            }
            return;
        }
        if (rendered.getNodeType() != typed.getNodeType()) {
            differences.add(path + ": " + rendered.getNodeType() + " " + rendered + " became " + typed.getNodeType()
                    + " " + typed);
            return;
        }
        if (rendered.isObject()) {
            List<String> names = new ArrayList<>();
            rendered.fieldNames().forEachRemaining(names::add);
            typed.fieldNames().forEachRemaining(n -> {
                if (!names.contains(n)) {
                    names.add(n);
                }
            });
            for (String name : names) {
                JsonNode a = rendered.get(name);
                JsonNode b = typed.get(name);
                if (a == null || b == null) {
                    differences.add(path + "." + name + (a == null ? " added by the model" : " lost by the model"));
                } else {
                    compare(a, b, path + "." + name, differences);
                }
            }
        } else if (rendered.isArray()) {
            if (rendered.size() != typed.size()) {
                differences.add(path + ": " + rendered.size() + " items became " + typed.size());
                return;
            }
            for (int i = 0; i < rendered.size(); i++) {
                compare(rendered.get(i), typed.get(i), path + "[" + i + "]", differences);
            }
        } else if (!rendered.equals(typed)) {
            differences.add(path + ": " + rendered + " became " + typed);
        }
    }
}
