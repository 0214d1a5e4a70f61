package io.flatfare.inference.gguf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The command line writes a model and says where and how big. */
class TinyModelCliTest {

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    @Test
    void writesTheModelAndPrintsPathAndSize() throws IOException {
        Path path = Path.of("target", "tiny-model-cli", "cli.gguf");

        int status = run(
                "--out",
                path.toString(),
                "--seed",
                "9",
                "--embedding",
                "32",
                "--heads",
                "2",
                "--kv-heads",
                "1",
                "--layers",
                "1",
                "--ff",
                "64",
                "--context",
                "256",
                "--name",
                "from-cli");

        assertThat(status).as(err.toString(StandardCharsets.UTF_8)).isZero();
        assertThat(out.toString(StandardCharsets.UTF_8).strip())
                .isEqualTo(path.toAbsolutePath() + " " + Files.size(path));
        GgufFile file = GgufReader.read(path);
        assertThat(file.metadata())
                .containsEntry("general.name", "from-cli")
                .containsEntry("llama.embedding_length", 32L)
                .containsEntry("llama.attention.head_count", 2L)
                .containsEntry("llama.attention.head_count_kv", 1L)
                .containsEntry("llama.block_count", 1L)
                .containsEntry("llama.feed_forward_length", 64L)
                .containsEntry("llama.context_length", 256L);
        Path same = path.resolveSibling("same.gguf");
        TinyLlamaModel.write(new TinyLlamaSpec("from-cli", 9, 32, 1, 2, 1, 64, 256, GgmlType.F32), same);
        assertThat(Files.mismatch(path, same)).isEqualTo(-1L);
    }

    @Test
    void badArgumentsExitWithUsage() {
        assertThat(run("--seed", "1")).isEqualTo(2);
        assertThat(run("--out", "x.gguf", "--heads", "3")).isEqualTo(2);
        assertThat(run("--out", "x.gguf", "--layers", "two")).isEqualTo(2);
        assertThat(run("--bogus")).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("usage: TinyModelCli");
        assertThat(Path.of("x.gguf")).doesNotExist();
    }

    private int run(String... args) {
        return TinyModelCli.run(
                args,
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }
}
