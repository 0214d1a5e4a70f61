package io.flatfare.launcher;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The command line of {@code flatfare up}: where state lives, which extra models to serve and every port. Relative
 * paths are taken against the directory the user ran the command in, not the repository root the script runs in.
 */
record UpOptions(Path dataDir, List<Model> models, Map<String, Integer> ports) {

    /** The port options in start order, with their defaults; the keys are the option names without dashes. */
    static final Map<String, Integer> DEFAULT_PORTS = defaultPorts();

    /** A GGUF file given with {@code --model}, served under {@code id}. */
    record Model(String id, Path path) {}

    static final String USAGE = """
            Usage: ./flatfare up [--data-dir DIR] [--port 8080] [--model PATH ...]
                                 [--registry-port 8060] [--inference-port 8090] [--metering-port 8070]
                                 [--postgres-port 15432] [--kafka-port 19092] [--kafka-controller-port 19093]
                                 [--redis-port 16379]

              --data-dir DIR  state kept across runs (databases, Kafka logs, usage journal, demo key);
                              default .flatfare/ in the repository
              --port N        the gateway's port: the OpenAI-compatible API at http://127.0.0.1:N/v1
              --model PATH    also serve this GGUF file, as the model id taken from its file name (repeatable)
            """;

    /** Registry model ids: lower-case letters, digits and {@code . _ : -}, at most 64. */
    private static final Pattern NOT_IN_ID = Pattern.compile("[^a-z0-9._:-]+");

    private static Map<String, Integer> defaultPorts() {
        Map<String, Integer> ports = new LinkedHashMap<>();
        ports.put("port", 8080);
        ports.put("registry-port", 8060);
        ports.put("inference-port", 8090);
        ports.put("metering-port", 8070);
        // Off the usual ports, so a PostgreSQL, Kafka or Redis the developer already runs is no clash.
        ports.put("postgres-port", 15432);
        ports.put("kafka-port", 19092);
        ports.put("kafka-controller-port", 19093);
        ports.put("redis-port", 16379);
        return Collections.unmodifiableMap(ports);
    }

    /**
     * Parses the arguments after {@code up}.
     *
     * @param workingDir the directory relative paths are resolved against
     * @param defaultDataDir the data directory when {@code --data-dir} is not given
     * @throws IllegalArgumentException naming the bad argument
     */
    static UpOptions parse(List<String> args, Path workingDir, Path defaultDataDir) {
        Path dataDir = defaultDataDir;
        List<Model> models = new ArrayList<>();
        Map<String, Integer> ports = new LinkedHashMap<>(DEFAULT_PORTS);
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            String name;
            String value;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                name = arg.substring(2, eq);
                value = arg.substring(eq + 1);
            } else if (arg.startsWith("--")) {
                name = arg.substring(2);
                if (i + 1 >= args.size()) {
                    throw new IllegalArgumentException(arg + " needs a value");
                }
                value = args.get(++i);
            } else {
                throw new IllegalArgumentException("Unexpected argument: " + arg);
            }
            switch (name) {
                case "data-dir" -> dataDir = workingDir.resolve(value).normalize();
                case "model" -> {
                    Path path = workingDir.resolve(value).normalize();
                    models.add(new Model(modelId(path), path));
                }
                default -> {
                    if (!ports.containsKey(name)) {
                        throw new IllegalArgumentException("Unknown option --" + name);
                    }
                    ports.put(name, port(name, value));
                }
            }
        }
        return new UpOptions(dataDir.toAbsolutePath(), List.copyOf(models), Map.copyOf(ports));
    }

    /** {@code Qwen2.5-0.5B-Instruct-Q4_K_M.gguf} → {@code qwen2.5-0.5b-instruct-q4_k_m}. */
    static String modelId(Path file) {
        String name = file.getFileName().toString();
        if (name.toLowerCase(Locale.ROOT).endsWith(".gguf")) {
            name = name.substring(0, name.length() - ".gguf".length());
        }
        String id = NOT_IN_ID.matcher(name.toLowerCase(Locale.ROOT)).replaceAll("-");
        id = id.replaceAll("^[^a-z0-9]+", "");
        if (id.length() > 64) {
            id = id.substring(0, 64);
        }
        if (id.isEmpty()) {
            throw new IllegalArgumentException("No model id can be made from the file name " + file.getFileName());
        }
        return id;
    }

    int port(String name) {
        return ports.get(name);
    }

    private static int port(String name, String value) {
        try {
            int port = Integer.parseInt(value);
            if (port < 1 || port > 65535) {
                throw new NumberFormatException();
            }
            return port;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " must be a port number (1-65535), not " + value);
        }
    }
}
