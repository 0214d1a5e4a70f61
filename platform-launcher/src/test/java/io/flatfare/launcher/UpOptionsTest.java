package io.flatfare.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.flatfare.testing.support.FreePorts;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class UpOptionsTest {

    private static final Path CWD = Path.of("/home/dev/work");
    private static final Path DEFAULT = Path.of("/repo/.flatfare");

    @Test
    void defaultsWithoutArguments() {
        UpOptions options = UpOptions.parse(List.of(), CWD, DEFAULT);

        assertThat(options.dataDir()).isEqualTo(DEFAULT);
        assertThat(options.models()).isEmpty();
        assertThat(options.port("port")).isEqualTo(8080);
        assertThat(options.port("registry-port")).isEqualTo(8060);
        assertThat(options.port("postgres-port")).isEqualTo(15432);
    }

    @Test
    void relativePathsAreTakenFromWhereTheCommandRan() {
        UpOptions options = UpOptions.parse(
                List.of("--data-dir", "state", "--model=models/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "--port", "9000"),
                CWD,
                DEFAULT);

        assertThat(options.dataDir()).isEqualTo(Path.of("/home/dev/work/state"));
        assertThat(options.models())
                .containsExactly(new UpOptions.Model(
                        "qwen2.5-0.5b-instruct-q4_k_m",
                        Path.of("/home/dev/work/models/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf")));
        assertThat(options.port("port")).isEqualTo(9000);
    }

    @Test
    void modelIdsFitTheRegistryPattern() {
        assertThat(UpOptions.modelId(Path.of("/m/My Model (v2).GGUF"))).isEqualTo("my-model-v2-");
        assertThat(UpOptions.modelId(Path.of("__llama.gguf"))).isEqualTo("llama");
        assertThat(UpOptions.modelId(Path.of("x".repeat(80) + ".gguf"))).hasSize(64);
        assertThatThrownBy(() -> UpOptions.modelId(Path.of("___.gguf"))).hasMessageContaining("No model id");
    }

    @Test
    void badArgumentsAreNamed() {
        assertThatThrownBy(() -> UpOptions.parse(List.of("--port", "http"), CWD, DEFAULT))
                .hasMessageContaining("--port must be a port number");
        assertThatThrownBy(() -> UpOptions.parse(List.of("--colour", "red"), CWD, DEFAULT))
                .hasMessageContaining("Unknown option --colour");
        assertThatThrownBy(() -> UpOptions.parse(List.of("--model"), CWD, DEFAULT))
                .hasMessageContaining("--model needs a value");
    }

    @Test
    void aTakenPortIsNamedBeforeAnythingStarts() throws Exception {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(0));
            int port = taken.getLocalPort();
            UpOptions options = UpOptions.parse(List.of("--metering-port", String.valueOf(port)), CWD, DEFAULT);

            assertThatThrownBy(() -> FlatfareUp.checkPorts(freeOtherwise(options, port)))
                    .hasMessage("port " + port + " (--metering-port) is already in use; stop what uses it or choose"
                            + " another port with --metering-port N");
        }
    }

    @Test
    void twoOptionsOnOnePortAreRefused() {
        UpOptions options = UpOptions.parse(List.of("--port", "18111", "--redis-port", "18111"), CWD, DEFAULT);

        assertThatThrownBy(() -> FlatfareUp.checkPorts(options))
                .hasMessageContaining("--port and --redis-port are both 18111");
    }

    @Test
    void modelsAreCheckedBeforeAnythingStarts(@TempDir Path dir) throws Exception {
        Path gguf = Files.write(
                dir.resolve("Llama.gguf"), "GGUF\u0003\u0000\u0000\u0000".getBytes(StandardCharsets.US_ASCII));
        Files.createDirectories(dir.resolve("other"));
        Path sameId = Files.copy(gguf, dir.resolve("other/llama.GGUF"));
        Path builtIn = Files.copy(gguf, dir.resolve("flatfare-tiny.gguf"));
        Path text = Files.writeString(dir.resolve("notes.gguf"), "hello");
        Path empty = Files.createFile(dir.resolve("empty.gguf"));

        assertThatCode(() -> FlatfareUp.checkModels(models(dir, "Llama.gguf"))).doesNotThrowAnyException();
        assertThatThrownBy(() -> FlatfareUp.checkModels(models(dir, "Llama.gguf", "other/llama.GGUF")))
                .hasMessage("--model " + gguf + " and --model " + sameId
                        + " would both be served as llama; rename one of the files");
        assertThatThrownBy(() -> FlatfareUp.checkModels(models(dir, "flatfare-tiny.gguf")))
                .hasMessage(
                        "--model " + builtIn + ": its model id flatfare-tiny is a built-in model's; rename the file");
        assertThatThrownBy(() -> FlatfareUp.checkModels(models(dir, "missing.gguf")))
                .hasMessage("--model " + dir.resolve("missing.gguf") + ": no such file");
        assertThatThrownBy(() -> FlatfareUp.checkModels(models(dir, "other")))
                .hasMessage("--model " + dir.resolve("other") + ": no such file");
        assertThatThrownBy(() -> FlatfareUp.checkModels(models(dir, "notes.gguf")))
                .hasMessage("--model " + text + ": not a GGUF file");
        assertThatThrownBy(() -> FlatfareUp.checkModels(models(dir, "empty.gguf")))
                .hasMessage("--model " + empty + ": not a GGUF file");
    }

    private static UpOptions models(Path dir, String... files) {
        List<String> args = new java.util.ArrayList<>();
        for (String file : files) {
            args.add("--model");
            args.add(file);
        }
        return UpOptions.parse(args, dir, DEFAULT);
    }

    /** The other ports moved off their defaults, which a developer's machine may be using. */
    private static UpOptions freeOtherwise(UpOptions options, int taken) {
        Map<String, Integer> ports = new LinkedHashMap<>();
        Iterator<Integer> free =
                FreePorts.distinct(UpOptions.DEFAULT_PORTS.size()).iterator();
        UpOptions.DEFAULT_PORTS.keySet().forEach(name -> ports.put(name, free.next()));
        ports.put("metering-port", taken);
        return new UpOptions(options.dataDir(), options.models(), ports);
    }
}
