package io.flatfare.contracts.events;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class EventJsonTest {

    @Test
    void unknownPropertiesAreIgnoredWhenReadingSoNewerProducersCanAddFields() {
        UsageEvent event = Fixtures.usage().build();
        ObjectNode node = Fixtures.tree(event);
        node.put("added_in_a_later_release", "x");

        assertThat(EventJson.fromJson(node.toString(), UsageEvent.class)).isEqualTo(event);
        assertThat(EventSchemas.validate(UsageEvent.class, node.toString()).valid())
                .as("while the schema of this release still rejects it")
                .isFalse();
    }

    @Test
    void floatsAreNeverTruncatedIntoIntegers() {
        ObjectNode node = Fixtures.tree(Fixtures.rated().build());
        node.put("amount_micros", new BigDecimal("2000.9"));

        assertThatThrownBy(() -> EventJson.fromJson(node.toString(), RatedUsage.class))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("invalid RatedUsage: /amount_micros: ");

        node.put("amount_micros", new BigDecimal("2000.0"));
        assertThatThrownBy(() -> EventJson.fromJson(node.toString(), RatedUsage.class))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("/amount_micros");
    }

    @Test
    void missingOrNullPrimitivesFailInsteadOfDefaulting() {
        ObjectNode missing = Fixtures.tree(Fixtures.usage().build());
        missing.remove("stream");
        assertThatThrownBy(() -> EventJson.fromJson(missing.toString(), UsageEvent.class))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("stream");

        ObjectNode nulled = Fixtures.tree(Fixtures.usage().build());
        nulled.putNull("prompt_tokens");
        assertThatThrownBy(() -> EventJson.fromJson(nulled.toString(), UsageEvent.class))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("prompt_tokens");
    }

    @Test
    void missingNullablePropertiesFailBecauseEveryV1PropertyIsRequired() {
        ObjectNode node = Fixtures.tree(Fixtures.usage().build());
        node.remove("instance_id");

        assertThatThrownBy(() -> EventJson.fromJson(node.toString(), UsageEvent.class))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("instance_id");
    }

    @Test
    void scalarsAreNotCoerced() {
        ObjectNode node = Fixtures.tree(Fixtures.usage().build());
        node.put("prompt_tokens", "42");

        assertThatThrownBy(() -> EventJson.fromJson(node.toString(), UsageEvent.class))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("/prompt_tokens");
    }

    @Test
    void unknownEnumValuesFail() {
        ObjectNode node = Fixtures.tree(Fixtures.usage().build());
        node.put("outcome", "aborted");

        assertThatThrownBy(() -> EventJson.fromJson(node.toString(), UsageEvent.class))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("/outcome")
                .hasMessageContaining("aborted");
    }

    @Test
    void recordInvariantsSurfaceAsTheReason() {
        ObjectNode node = Fixtures.tree(Fixtures.rated().build());
        node.put("amount_micros", 1_999);

        assertThatThrownBy(() -> EventJson.fromJson(node.toString().getBytes(StandardCharsets.UTF_8), RatedUsage.class))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("invalid RatedUsage: amount_micros must be unit_price_micros * quantity = 2000, was 1999");
    }

    @Test
    void malformedJsonFails() {
        assertThatThrownBy(() -> EventJson.fromJson("{\"event_id\":", UsageEvent.class))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("invalid UsageEvent: ");
        String valid = EventJson.toJsonString(Fixtures.usage().build());
        assertThatThrownBy(() -> EventJson.fromJson(valid + "{}", UsageEvent.class))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void theFactoryGivesIndependentIdenticallyConfiguredMappers() throws Exception {
        UsageEvent event = Fixtures.usage().build();

        assertThat(EventJson.newObjectMapper()).isNotSameAs(EventJson.newObjectMapper());
        assertThat(EventJson.newObjectMapper().writeValueAsString(event)).isEqualTo(EventJson.toJsonString(event));
    }
}
