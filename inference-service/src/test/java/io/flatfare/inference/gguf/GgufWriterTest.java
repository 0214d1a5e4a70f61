package io.flatfare.inference.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.assertj.core.groups.Tuple;
import org.junit.jupiter.api.Test;

/** The GGUF container: what is written reads back, aligned as GGUF v3 requires. */
class GgufWriterTest {

    private static final Path DIR = Path.of("target", "gguf-writer-test");

    @Test
    void metadataOfEveryWrittenTypeReadsBack() throws IOException {
        GgufWriter writer = new GgufWriter()
                .putString("s", "héllo ✓")
                .putUint32("u32", 0xFFFF_FFFFL)
                .putInt32("i32", -7)
                .putUint64("u64", 1L << 40)
                .putFloat32("f32", 1e-5f)
                .putBool("yes", true)
                .putStringArray("strings", List.of("a", "", "Ġ"))
                .putInt32Array("ints", new int[] {1, -2, 3})
                .putFloat32Array("floats", new float[] {0.5f, -1f})
                .putStringArray("empty", List.of());

        GgufFile file = GgufReader.read(new ByteArrayInputStream(bytes(writer)));

        assertThat(file.version()).isEqualTo(3);
        assertThat(file.metadata())
                .containsExactly(
                        entry("general.alignment", 32L),
                        entry("s", "héllo ✓"),
                        entry("u32", 0xFFFF_FFFFL),
                        entry("i32", -7L),
                        entry("u64", 1L << 40),
                        entry("f32", 1e-5f),
                        entry("yes", true),
                        entry("strings", List.of("a", "", "Ġ")),
                        entry("ints", List.of(1L, -2L, 3L)),
                        entry("floats", List.of(0.5f, -1f)),
                        entry("empty", List.of()));
        assertThat(file.tensors()).isEmpty();
    }

    @Test
    void headerStartsWithMagicVersionAndCounts() throws IOException {
        byte[] bytes =
                bytes(new GgufWriter().putString("k", "v").addTensor("t", GgmlType.F32, new long[] {3}, () -> () -> 1));
        ByteBuffer header = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);

        assertThat(new String(bytes, 0, 4, StandardCharsets.US_ASCII)).isEqualTo("GGUF");
        assertThat(header.getInt(4)).isEqualTo(3);
        assertThat(header.getLong(8)).as("tensor count").isEqualTo(1);
        assertThat(header.getLong(16)).as("metadata count (alignment + k)").isEqualTo(2);
    }

    @Test
    void tensorDataIsAlignedAndPaddedInStorageOrder() throws IOException {
        Files.createDirectories(DIR);
        Path path = DIR.resolve("aligned.gguf");
        int[] counter = {0};
        GgufWriter writer = new GgufWriter()
                .addTensor("a", GgmlType.F32, new long[] {3}, () -> () -> 1.5)
                .addTensor("b", GgmlType.F32, new long[] {2, 3}, () -> {
                    counter[0] = 0;
                    return () -> counter[0]++;
                })
                .addTensor("c", GgmlType.F16, new long[] {5}, () -> () -> -0.25);

        long size = writer.write(path);
        GgufFile file = GgufReader.read(path);

        assertThat(size).isEqualTo(Files.size(path));
        assertThat(file.dataOffset() % 32).isZero();
        assertThat(file.tensors())
                .extracting(GgufFile.TensorInfo::name, GgufFile.TensorInfo::offset)
                .containsExactly(Tuple.tuple("a", 0L), Tuple.tuple("b", 32L), Tuple.tuple("c", 64L));
        assertThat(file.tensor("b").orElseThrow().dims()).containsExactly(2L, 3L);
        assertThat(file.tensor("c").orElseThrow().type()).contains(GgmlType.F16);
        // The last tensor is padded to the alignment as well.
        assertThat(size).isEqualTo(file.dataOffset() + 64 + 32);
        assertThat(GgufReader.readF32(path, file, "a")).containsExactly(1.5f, 1.5f, 1.5f);
        assertThat(GgufReader.readF32(path, file, "b")).containsExactly(0f, 1f, 2f, 3f, 4f, 5f);
        assertThat(GgufReader.readF32(path, file, "c")).containsOnly(-0.25f).hasSize(5);
        assertThat(path.resolveSibling("aligned.gguf.part")).doesNotExist();
    }

    @Test
    void rejectsWhatGgufCannotHold() {
        GgufWriter writer = new GgufWriter().putString("k", "v");
        assertThatThrownBy(() -> writer.putString("k", "again")).hasMessageContaining("duplicate");
        assertThatThrownBy(() -> writer.putUint32("neg", -1)).hasMessageContaining("uint32");
        assertThatThrownBy(() -> writer.addTensor("t", GgmlType.F32, new long[] {0}, () -> () -> 0))
                .hasMessageContaining("positive");
        assertThatThrownBy(() -> writer.addTensor("t", GgmlType.F32, new long[] {1, 1, 1, 1, 1}, () -> () -> 0))
                .hasMessageContaining("dimensions");
        assertThatThrownBy(() -> new GgufWriter(24)).hasMessageContaining("power of two");
    }

    @Test
    void readerRejectsOtherFiles() {
        assertThatThrownBy(
                        () -> GgufReader.read(new ByteArrayInputStream("not a model".getBytes(StandardCharsets.UTF_8))))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("not a GGUF file");
    }

    private static byte[] bytes(GgufWriter writer) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long n = writer.write(out);
        assertThat(n).isEqualTo(out.size());
        return out.toByteArray();
    }

    private static Map.Entry<String, Object> entry(String key, Object value) {
        return Map.entry(key, value);
    }
}
