package io.flatfare.inference.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TokenizerCostTest {

    @Test
    void predictsAPartPerFragmentAndAPartPerCharacter() {
        var cost = new TokenizerCost(500_000, 0.25);

        assertThat(cost.nanos(1, 0)).isEqualTo(500_000);
        assertThat(cost.nanos(3, 1_000)).isEqualTo(1_500_250);
        assertThat(new TokenizerCost(4_000, 220.5).nanos(1, 2)).isEqualTo(4_441);
    }

    @Test
    void timesAOneCharacterAndALongerSampleAsOftenAsAsked() {
        List<String> texts = new ArrayList<>();

        var cost = TokenizerCost.measure(
                text -> {
                    texts.add(text);
                    return text.length();
                },
                7);

        assertThat(texts).hasSize(14);
        assertThat(texts.subList(0, 7)).containsOnly("a");
        assertThat(texts.subList(7, 14)).allSatisfy(t -> assertThat(t).hasSize(TokenizerCost.SAMPLE_CHARS));
        assertThat(cost.fragmentNanos()).isNotNegative();
        assertThat(cost.charNanos()).isNotNegative();
    }

    @Test
    void refusesNonsense() {
        assertThatThrownBy(() -> TokenizerCost.measure(String::length, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new TokenizerCost(-1, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new TokenizerCost(0, Double.NaN)).isInstanceOf(IllegalArgumentException.class);
    }
}
