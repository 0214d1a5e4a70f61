package io.flatfare.launcher;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import sun.misc.Signal;

/**
 * {@code ./flatfare up}: runs the whole platform on this machine in the foreground until SIGINT (Ctrl-C) or SIGTERM,
 * then stops everything it started. Progress goes to stderr; stdout carries only {@code FLATFARE_*=value} lines, once
 * everything is ready.
 *
 * <p>The script passes {@code -Dflatfare.home} (the repository, where the packaged services are) and
 * {@code -Dflatfare.cwd} (where the user ran it, for relative paths).
 */
public final class FlatfareUp {

    /** Exit codes: a bad command line or a taken port, and a failed start or a service that died. */
    static final int EXIT_USAGE = 2;

    static final int EXIT_FAILED = 1;

    private static final List<String> MODULES =
            List.of("model-registry", "inference-service", "metering-service", "gateway-service");

    /**
     * With this system property true, {@link #run} only checks that it could start (the command line, the ports, the
     * data directory not in use) and exits: {@code ./flatfare} asks this before it builds, since a build replaces the
     * jars that the services of a platform already running from this checkout load their classes from.
     */
    static final String PREFLIGHT = "flatfare.preflight";

    private static final String LOCK_FILE = "launcher.lock";

    private FlatfareUp() {}

    public static void main(String[] args) {
        System.exit(run(Arrays.asList(args)));
    }

    static int run(List<String> args) {
        Path root = Path.of(System.getProperty("flatfare.home", "."))
                .toAbsolutePath()
                .normalize();
        Path cwd = Path.of(System.getProperty("flatfare.cwd", "."))
                .toAbsolutePath()
                .normalize();
        if (args.isEmpty() || !args.getFirst().equals("up")) {
            System.err.print(UpOptions.USAGE);
            return args.isEmpty() || args.getFirst().equals("--help") ? 0 : EXIT_USAGE;
        }
        UpOptions options;
        try {
            options = UpOptions.parse(args.subList(1, args.size()), cwd, root.resolve(".flatfare"));
            checkPorts(options);
            checkModels(options);
            if (Boolean.getBoolean(PREFLIGHT)) {
                checkDataDirFree(options.dataDir());
                return 0;
            }
            checkJars(root);
        } catch (IllegalArgumentException e) {
            Progress.say(e.getMessage());
            return EXIT_USAGE;
        }
        try {
            Files.createDirectories(options.dataDir());
        } catch (IOException e) {
            Progress.say("cannot create the data directory " + options.dataDir() + ": " + e.getMessage());
            return EXIT_USAGE;
        }
        try (FileChannel lockFile = FileChannel.open(
                        options.dataDir().resolve(LOCK_FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                FileLock lock = lockFile.tryLock()) {
            if (lock == null) {
                Progress.say("another ./flatfare up is using " + options.dataDir());
                return EXIT_USAGE;
            }
            return runPlatform(options, root);
        } catch (IOException e) {
            Progress.say("cannot lock " + options.dataDir() + ": " + e.getMessage());
            return EXIT_FAILED;
        }
    }

    private static int runPlatform(UpOptions options, Path root) {
        Parts parts = new Parts();
        CountDownLatch stopped = new CountDownLatch(1);
        AtomicBoolean signalled = new AtomicBoolean();
        // Replacing the default handlers keeps the JVM from running every shutdown hook at once: the parts are
        // stopped in order (the gateway flushes its usage to Kafka before Kafka stops), then the JVM exits.
        for (String name : List.of("INT", "TERM")) {
            Signal.handle(new Signal(name), signal -> {
                if (signalled.compareAndSet(false, true)) {
                    Progress.say("SIG" + name + ": stopping everything");
                    Thread.ofPlatform().name("flatfare-stop").start(() -> {
                        parts.stopAll();
                        stopped.countDown();
                    });
                }
            });
        }
        Platform platform = new Platform(options, root, parts);
        long started = System.nanoTime();
        Platform.Access access;
        try {
            access = platform.start();
        } catch (Parts.Stopping e) {
            awaitQuietly(stopped);
            return 0;
        } catch (RuntimeException e) {
            if (signalled.get()) {
                awaitQuietly(stopped);
                return 0;
            }
            Progress.say("start-up failed: " + e.getMessage());
            parts.stopAll();
            return EXIT_FAILED;
        }
        Progress.say("ready in " + Duration.ofNanos(System.nanoTime() - started).toSeconds() + " s");
        printAccess(options, access);
        return watch(parts, platform, stopped);
    }

    /** Waits for a signal; a service that dies meanwhile stops everything, with its log named. */
    private static int watch(Parts parts, Platform platform, CountDownLatch stopped) {
        try {
            while (!stopped.await(1, java.util.concurrent.TimeUnit.SECONDS)) {
                Optional<Parts.Service> exited = parts.exitedService();
                if (exited.isPresent()) {
                    Progress.say(exited.get().name() + " exited unexpectedly; its log: "
                            + platform.log(exited.get().name()));
                    parts.stopAll();
                    return EXIT_FAILED;
                }
            }
            return 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            parts.stopAll();
            return EXIT_FAILED;
        }
    }

    private static void printAccess(UpOptions options, Platform.Access access) {
        String models = String.join(", ", access.extraModels());
        System.err.printf(
                """

                Flatfare is running. Data: %s (tokens.properties holds the admin tokens). Ctrl-C stops it.
                %s
                curl:
                  curl %s/chat/completions -H "Authorization: Bearer %s" \\
                    -H 'Content-Type: application/json' \\
                    -d '{"model":"%s","messages":[{"role":"user","content":"Hello"}]}'

                Python (pip install openai):
                  from openai import OpenAI
                  client = OpenAI(base_url="%s", api_key="%s")
                  print(client.chat.completions.create(model="%s",
                        messages=[{"role": "user", "content": "Hello"}]).choices[0].message.content)

                Node (npm install openai):
                  import OpenAI from "openai";
                  const client = new OpenAI({ baseURL: "%s", apiKey: "%s" });
                  const r = await client.chat.completions.create({ model: "%s",
                        messages: [{ role: "user", content: "Hello" }] });
                  console.log(r.choices[0].message.content);

                For scripts, on stdout:
                """,
                options.dataDir(),
                models.isEmpty() ? "" : "Also serving: " + models + "\n",
                access.baseUrl(),
                access.apiKey(),
                Platform.TINY,
                access.baseUrl(),
                access.apiKey(),
                Platform.TINY,
                access.baseUrl(),
                access.apiKey(),
                Platform.TINY);
        System.err.flush();
        System.out.println("FLATFARE_BASE_URL=" + access.baseUrl());
        System.out.println("FLATFARE_API_KEY=" + access.apiKey());
        System.out.println("FLATFARE_MODEL=" + Platform.TINY);
        System.out.println("FLATFARE_EMBEDDING_MODEL=" + Platform.TINY_EMBED);
        System.out.flush();
    }

    /**
     * Every {@code --model} must be a GGUF file whose id is its own, before anything starts (or is built): a missing
     * file would otherwise be found after the databases, Kafka and the registry had started, a model id given twice
     * would serve one of the files only, and a built-in model's id would replace the demo model unannounced.
     */
    static void checkModels(UpOptions options) {
        Map<String, UpOptions.Model> byId = new HashMap<>();
        for (UpOptions.Model model : options.models()) {
            if (model.id().equals(Platform.TINY) || model.id().equals(Platform.TINY_EMBED)) {
                throw new IllegalArgumentException("--model " + model.path() + ": its model id " + model.id()
                        + " is a built-in model's; rename the file");
            }
            UpOptions.Model previous = byId.putIfAbsent(model.id(), model);
            if (previous != null) {
                throw new IllegalArgumentException("--model " + previous.path() + " and --model " + model.path()
                        + " would both be served as " + model.id() + "; rename one of the files");
            }
            if (!Files.isRegularFile(model.path())) {
                throw new IllegalArgumentException("--model " + model.path() + ": no such file");
            }
            byte[] magic = new byte[4];
            try (InputStream in = Files.newInputStream(model.path())) {
                if (in.readNBytes(magic, 0, 4) < 4 || !Arrays.equals(magic, GGUF_MAGIC)) {
                    throw new IllegalArgumentException("--model " + model.path() + ": not a GGUF file");
                }
            } catch (IOException e) {
                throw new IllegalArgumentException("--model " + model.path() + ": cannot be read (" + e + ")");
            }
        }
    }

    /** The first bytes of every GGUF file. */
    private static final byte[] GGUF_MAGIC = "GGUF".getBytes(StandardCharsets.US_ASCII);

    /**
     * Every port must be free before anything starts, so a clash is one clear message, not a half-started platform.
     * Two options on one port are reported first: that is the command's mistake whatever the machine runs.
     */
    static void checkPorts(UpOptions options) {
        Map<Integer, String> seen = new HashMap<>();
        for (var entry : UpOptions.DEFAULT_PORTS.keySet()) {
            int port = options.port(entry);
            String previous = seen.putIfAbsent(port, entry);
            if (previous != null) {
                throw new IllegalArgumentException(
                        "--" + previous + " and --" + entry + " are both " + port + ": give each its own port");
            }
        }
        for (var entry : UpOptions.DEFAULT_PORTS.keySet()) {
            int port = options.port(entry);
            try (ServerSocket socket = new ServerSocket()) {
                socket.setReuseAddress(true);
                // The wildcard address: taken on any interface is taken.
                socket.bind(new InetSocketAddress(port));
            } catch (IOException e) {
                throw new IllegalArgumentException("port " + port + " (--" + entry + ") is already in use;"
                        + " stop what uses it or choose another port with --" + entry + " N");
            }
        }
    }

    /**
     * Refuses a data directory that another launcher holds (its lock), without taking it. One that does not exist yet
     * or cannot be locked at all is left to the start, which says what is wrong with it.
     */
    static void checkDataDirFree(Path dataDir) {
        Path lockPath = dataDir.resolve(LOCK_FILE);
        if (!Files.isRegularFile(lockPath)) {
            return;
        }
        try (FileChannel lockFile = FileChannel.open(lockPath, StandardOpenOption.WRITE);
                FileLock lock = lockFile.tryLock()) {
            if (lock == null) {
                throw new IllegalArgumentException("another ./flatfare up is using " + dataDir
                        + "; stop it first (Ctrl-C where it runs) or choose another --data-dir");
            }
        } catch (IOException e) {
            // Not this check's to judge.
        }
    }

    private static void checkJars(Path root) {
        for (String module : MODULES) {
            Path jar = root.resolve(module).resolve("target/quarkus-app/quarkus-run.jar");
            if (!Files.isRegularFile(jar)) {
                throw new IllegalArgumentException(
                        jar + " is missing: build first (./flatfare builds what is missing, or ./mvnw install"
                                + " -DskipTests)");
            }
        }
    }

    private static void awaitQuietly(CountDownLatch stopped) {
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
