package io.flatfare.support.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.time.LocalDate;
import org.junit.jupiter.api.Test;

class StorableTest {

    @Test
    void textWithoutNulIsStorable() {
        assertThat(Storable.text("")).isTrue();
        assertThat(Storable.text("a\tb\ncé\u007f")).isTrue();
        assertThat(Storable.text("a\u0000b")).isFalse();
        assertThat(Storable.text("\u0000")).isFalse();
    }

    @Test
    void oneLineRefusesEveryControlCharacter() {
        assertThat("Acme, Inc. — é 中文").matches(Storable.ONE_LINE);
        assertThat("").matches(Storable.ONE_LINE);
        for (String bad : new String[] {"a\u0000", "a\tb", "a\nb", "a\rb", "\u007f", "\u001b[31m"}) {
            assertThat(bad).as(bad).doesNotMatch(Storable.ONE_LINE);
        }
    }

    @Test
    void instantsAndDaysAreHeldToTheYearsOneTo9999() {
        assertThat(Storable.instant(Instant.parse("0001-01-01T00:00:00Z"))).isTrue();
        assertThat(Storable.instant(Instant.parse("9999-12-31T23:59:59.999999Z")))
                .isTrue();
        assertThat(Storable.instant(Instant.parse("2026-12-01T00:00:00Z"))).isTrue();
        assertThat(Storable.instant(Instant.parse("0000-12-31T23:59:59.999999Z")))
                .isFalse();
        assertThat(Storable.instant(Instant.parse("+10000-01-01T00:00:00Z"))).isFalse();
        assertThat(Storable.instant(Instant.MAX)).isFalse();
        assertThat(Storable.instant(Instant.MIN)).isFalse();
        assertThat(Storable.day(LocalDate.of(1, 1, 1))).isTrue();
        assertThat(Storable.day(LocalDate.of(9999, 12, 31))).isTrue();
        assertThat(Storable.day(LocalDate.of(0, 12, 31))).isFalse();
        assertThat(Storable.day(LocalDate.parse("+999999999-01-01"))).isFalse();
        assertThat(Storable.day(LocalDate.parse("-999999999-01-01"))).isFalse();
    }
}
