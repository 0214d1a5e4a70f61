package io.flatfare.inference.engine.llamacpp;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class StopMatcherTest {

    @Test
    void withoutStopsEverythingPassesAtOnce() {
        StopMatcher matcher = new StopMatcher(null);

        assertThat(matcher.accept("abc")).isEqualTo("abc");
        assertThat(matcher.finish()).isEmpty();
        assertThat(matcher.matched()).isFalse();
    }

    @Test
    void aStopInsideOneChunkCutsBeforeIt() {
        StopMatcher matcher = new StopMatcher(List.of("END"));

        assertThat(matcher.accept("hello END world")).isEqualTo("hello ");
        assertThat(matcher.matched()).isTrue();
        assertThat(matcher.accept("more")).isEmpty();
        assertThat(matcher.finish()).isEmpty();
    }

    @Test
    void aStopSpanningChunksIsHeldBackAndNeverEmitted() {
        StopMatcher matcher = new StopMatcher(List.of("STOP"));
        List<String> out = new ArrayList<>();

        for (String chunk : List.of("abc S", "T", "O", "P tail")) {
            out.add(matcher.accept(chunk));
        }

        assertThat(String.join("", out)).isEqualTo("abc ");
        assertThat(out).containsExactly("abc ", "", "", "");
        assertThat(matcher.matched()).isTrue();
    }

    @Test
    void aFalseStartIsReleasedWhenItStopsMatching() {
        StopMatcher matcher = new StopMatcher(List.of("STOP"));

        assertThat(matcher.accept("x ST")).isEqualTo("x ");
        assertThat(matcher.accept("ay")).isEqualTo("STay");
        assertThat(matcher.accept("S")).isEmpty();
        assertThat(matcher.finish()).isEqualTo("S");
        assertThat(matcher.matched()).isFalse();
    }

    @Test
    void theEarliestOfSeveralStopsWins() {
        StopMatcher matcher = new StopMatcher(List.of("zz", "b", "cd"));

        assertThat(matcher.accept("acdb")).isEqualTo("a");
    }

    @Test
    void surrogatePairsAreNeverSplit() {
        StopMatcher matcher = new StopMatcher(List.of("\uDE00x"));

        // "😀" is \uD83D\uDE00: its low surrogate starts the stop string's prefix, but the pair stays whole.
        String released = matcher.accept("a😀");
        assertThat(released).isEqualTo("a");
        assertThat(matcher.finish()).isEqualTo("😀");
    }
}
