package io.flatfare.inference.gguf;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Writes one generated tiny model (see {@link TinyLlamaModel}) to a file. A plain main class: it starts no
 * Quarkus and needs nothing but the JDK, e.g.
 *
 * <pre>
 * java -cp inference-service/target/classes io.flatfare.inference.gguf.TinyModelCli --out /tmp/tiny.gguf
 * </pre>
 */
public final class TinyModelCli {

    static final String USAGE = """
            usage: TinyModelCli --out PATH [--seed N] [--embedding 64] [--layers 2] [--heads 4] [--kv-heads 2]
                                [--ff 128] [--context 2048] [--name flatfare-tiny] [--f16]
            Writes a llama-architecture GGUF model with random weights (deterministic from the seed),
            a byte-level tokenizer and a ChatML chat template.""";

    private TinyModelCli() {}

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the command; returns the exit status (0 done, 1 failed to write, 2 bad arguments). */
    static int run(String[] args, PrintStream out, PrintStream err) {
        TinyLlamaSpec defaults = TinyLlamaSpec.defaults();
        String name = defaults.name();
        long seed = defaults.seed();
        int embedding = defaults.embeddingLength();
        int layers = defaults.blockCount();
        int heads = defaults.headCount();
        int kvHeads = defaults.headCountKv();
        int ff = defaults.feedForwardLength();
        int context = defaults.contextLength();
        GgmlType weightType = defaults.weightType();
        Path path = null;
        TinyLlamaSpec spec;
        try {
            for (int i = 0; i < args.length; i++) {
                String arg = args[i];
                switch (arg) {
                    case "-h", "--help" -> {
                        out.println(USAGE);
                        return 0;
                    }
                    case "--f16" -> weightType = GgmlType.F16;
                    case "--out" -> path = Path.of(value(args, ++i, arg));
                    case "--seed" -> seed = longValue(args, ++i, arg);
                    case "--embedding" -> embedding = integer(args, ++i, arg);
                    case "--layers" -> layers = integer(args, ++i, arg);
                    case "--heads" -> heads = integer(args, ++i, arg);
                    case "--kv-heads" -> kvHeads = integer(args, ++i, arg);
                    case "--ff" -> ff = integer(args, ++i, arg);
                    case "--context" -> context = integer(args, ++i, arg);
                    case "--name" -> name = value(args, ++i, arg);
                    default -> throw new IllegalArgumentException("unknown argument " + arg);
                }
            }
            if (path == null) {
                throw new IllegalArgumentException("--out is required");
            }
            spec = new TinyLlamaSpec(name, seed, embedding, layers, heads, kvHeads, ff, context, weightType);
        } catch (IllegalArgumentException e) {
            err.println("error: " + e.getMessage());
            err.println(USAGE);
            return 2;
        }
        try {
            long size = TinyLlamaModel.write(spec, path);
            out.printf(Locale.ROOT, "%s %d%n", path.toAbsolutePath(), size);
            return 0;
        } catch (IOException | RuntimeException e) {
            err.println("error: could not write " + path + ": " + e);
            return 1;
        }
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }

    private static long longValue(String[] args, int i, String option) {
        String v = value(args, i, option);
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + ": not an integer: " + v);
        }
    }

    private static int integer(String[] args, int i, String option) {
        String v = value(args, i, option);
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + ": not an integer: " + v);
        }
    }
}
