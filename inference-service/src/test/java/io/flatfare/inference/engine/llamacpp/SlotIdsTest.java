package io.flatfare.inference.engine.llamacpp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

class SlotIdsTest {

    private static final long IDLE = 1_000;

    @Test
    void aGenerationTakesTheSlotFreedLast() {
        SlotIds ids = new SlotIds(3);
        assertThat(ids.free()).containsExactly(0, 1, 2);

        int a = ids.take();
        int b = ids.take();
        assertThat(a).isZero();
        assertThat(b).isEqualTo(1);
        ids.giveBack(a, 10);
        ids.giveBack(b, 20);

        assertThat(ids.free()).containsExactly(1, 0, 2);
        assertThat(ids.take()).isEqualTo(1); // light load stays in the slots it used last
    }

    @Test
    void onlyASlotIdleLongEnoughWithASequenceInItIsClaimed() {
        SlotIds ids = new SlotIds(3);
        // Never used: nothing to sweep, however long it has been free.
        assertThat(ids.claimIdle(1_000_000, IDLE)).isEmpty();

        ids.giveBack(ids.take(), 100); // slot 0, freed at 100
        assertThat(ids.holdingSequences()).containsExactly(0);
        assertThat(ids.claimIdle(100 + IDLE - 1, IDLE)).isEmpty();

        assertThat(ids.claimIdle(100 + IDLE, IDLE)).isEqualTo(OptionalInt.of(0));
        assertThat(ids.free()).containsExactly(1, 2); // out for the sweep: no generation can take it
        ids.swept(0);

        // Swept: below the slots in use lately, and holding nothing left to sweep.
        assertThat(ids.free()).containsExactly(1, 2, 0);
        assertThat(ids.holdingSequences()).isEmpty();
        assertThat(ids.claimIdle(10_000_000, IDLE)).isEmpty();
    }

    @Test
    void aSlotInUseIsNeverClaimed() {
        SlotIds ids = new SlotIds(1);
        ids.giveBack(ids.take(), 0);
        int again = ids.take();

        assertThat(ids.claimIdle(10_000_000, IDLE)).isEmpty();
        ids.giveBack(again, 5_000_000);
        assertThat(ids.claimIdle(5_000_000 + IDLE, IDLE)).isEqualTo(OptionalInt.of(0));
    }

    @Test
    void takingWithoutAPermitIsABug() {
        SlotIds ids = new SlotIds(1);
        ids.take();
        assertThatThrownBy(ids::take).isInstanceOf(IllegalStateException.class);
    }
}
