package io.flatfare.inference.engine.llamacpp;

import de.kherud.llama.InferenceParameters;
import de.kherud.llama.LlamaIterator;
import de.kherud.llama.LlamaModel;
import de.kherud.llama.LlamaOutput;
import de.kherud.llama.ModelParameters;
import de.kherud.llama.args.PoolingType;
import io.flatfare.contracts.inference.ErrorReasons;
import io.flatfare.inference.engine.CancellationSignal;
import io.flatfare.inference.engine.DeadlineExceededException;
import io.flatfare.inference.engine.EmbeddingResult;
import io.flatfare.inference.engine.EngineException;
import io.flatfare.inference.engine.FinishReason;
import io.flatfare.inference.engine.GenerationRequest;
import io.flatfare.inference.engine.GenerationRequest.ChatMessage;
import io.flatfare.inference.engine.GenerationRequest.ResponseFormat;
import io.flatfare.inference.engine.GenerationResult;
import io.flatfare.inference.engine.GenerationSink;
import io.flatfare.inference.engine.InferenceEngine;
import io.flatfare.inference.engine.InvalidRequestException;
import io.flatfare.inference.engine.ModelInfo;
import io.flatfare.inference.engine.ModelSettings;
import io.flatfare.inference.engine.PreparedGeneration;
import io.flatfare.inference.engine.TokenizerCost;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.CancellationException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;

/**
 * A model resident in llama.cpp (b4916) through the JNI binding {@code de.kherud:llama:4.2.0}.
 *
 * <h2>Use</h2>
 *
 * Call {@link #prepareNativeLibrary(Optional, Path)} once per JVM (before anything touches the binding), then
 * {@link #load(ModelSettings)} each model once, for the life of the process: the binding's {@code close()} frees
 * no memory. Every request parameter is validated here before it reaches native code ({@link #prepare}).
 *
 * <h2>Completion tokens and finish reasons</h2>
 *
 * The binding reports per streamed output only its text and a hidden "last" flag: no token ids, no counts, no stop
 * cause, and llama.cpp merges tokens into one output while the text ends in an incomplete UTF-8 character. What
 * the engine does about it:
 *
 * <ul>
 *   <li>Stop strings are never given to llama.cpp (which would hold text back and, at the end of a stream, drop
 *       it); they are matched here on the decoded text, the native stream is cancelled on a match and the text is
 *       cut before the stop string: finish {@link FinishReason#STOP}.
 *   <li>End-of-generation tokens are made visible: at load every candidate EOG token (the file's EOS/EOT/EOM/FIM
 *       ids and llama.cpp's known EOG texts) is forced once with a logit bias to verify that llama.cpp ends the
 *       stream on it, and each request lists the verified ones as {@code preserved_tokens}, so the EOG token
 *       arrives as its own text (e.g. {@code <|im_end|>}) at the very end of the stream. It is stripped here. A
 *       stream that ends with it finished by the model: {@link FinishReason#STOP}; one that ends without it hit
 *       {@code n_predict} (context overflow is excluded by validation, context shift is off):
 *       {@link FinishReason#LENGTH}, with exactly {@code maxTokens} completion tokens — exact.
 *   <li>Otherwise (stopped by the model or a stop string, cancelled, deadline) the completion tokens are counted
 *       from the outputs: an output whose text is ASCII (or empty) is exactly one token, since llama.cpp merges
 *       tokens only while a multi-byte UTF-8 character is incomplete; an output with non-ASCII text is counted by
 *       re-encoding its text (each U+FFFD, an invalid byte, as one token), once the stream has ended and only if
 *       it did not end at max tokens (a tokenizer call per output would cost the slot thread hundreds of
 *       microseconds per token with a regex pre-tokenizer). Exact for ASCII text and for valid
 *       UTF-8 that the model spelled canonically; off by a little only where a model emitted invalid UTF-8 or a
 *       non-canonical split of a character. The EOG token counts as a completion token (as in llama.cpp).
 * </ul>
 *
 * Not used: llama.cpp's slot log lines ({@code task N}, {@code n_decoded}, "stopped by EOS/limit") would be exact,
 * but the server code writes them through its own logger to stderr; the binding's log callback only receives the
 * llama/ggml library messages.
 *
 * <h2>Sampling</h2>
 *
 * As the OpenAI API: temperature (default 1) and top_p (default 1) only — llama.cpp's own top_k 40 and min_p 0.05
 * are switched off; presence/frequency penalties over the whole context; a logit bias of -100 bans the token. A
 * 64-bit seed is folded to llama.cpp's 32 bits ({@link #nativeSeed}); choice {@code i} uses {@code seed + i}.
 * Without a seed llama.cpp draws one per choice. Under a grammar (JSON output) the model's control tokens other
 * than end-of-generation are banned: llama.cpp's grammar would take them for their text while the output shows
 * nothing, breaking the JSON.
 *
 * <h2>Threads</h2>
 *
 * Up to {@code slots} {@link #stream}/{@link #embed} calls run at once on the caller's platform threads
 * (llama.cpp batches them continuously); more wait here for a slot while the cancellation signal and deadline
 * are polled. Cancellation and deadline are checked between outputs, so they act within one token (a long
 * prompt's first token still has to be computed). Every native stream is drained or cancelled in {@code finally}.
 * The binding's wait for a result spins while another stream's result is queued, so a stream's later outputs are
 * waited for one thread at a time ({@link ResultTurns}). Each call names the llama.cpp slot it runs in, the one freed
 * last, and a slot left idle with a finished sequence in the shared KV cache is swept on a thread of the engine's
 * ({@link SlotIds}, {@link Options#idleSlotSweep()}): llama.cpp keeps every finished sequence, and every step
 * attends over those cells too.
 * Texts longer than a few hundred characters are tokenized on deep-stack threads ({@link NativeThreads}): llama.cpp's
 * tokenizer regex recursion overflows an ordinary stack on a long run of letters, killing the JVM.
 *
 * <h2>Close</h2>
 *
 * The binding's {@code close()} hangs forever while a stream runs and frees nothing (about 140 MB per model stays
 * allocated). {@link #close()} therefore refuses new calls at once (calls still waiting for a slot give up) and
 * sweeps no more idle slots (a sweep under way holds a slot like a call), waits
 * up to {@link Options#closeTimeout()} for running calls to finish by themselves, then makes any that remain stop
 * at their next token (they return {@code cancelled}) and waits for them briefly, and only then stops llama.cpp's
 * task loop. If calls still run (a sink that never returns), it leaves the native model open rather than hang.
 * Either way the engine is closed: every later call throws {@link EngineException}.
 *
 * <h2>Determinism</h2>
 *
 * The same seed and parameters give the same output for sequential requests: the prompt cache is off by default
 * (a cached prefix is computed in a different batch shape, which can change logits in the last bits; on CPU with
 * the tiny test model it did not). Under concurrent load llama.cpp batches requests together, which may perturb
 * logits the same way.
 */
public final class LlamaCppEngine implements InferenceEngine {

    /**
     * Engine options beyond {@link ModelSettings}.
     *
     * @param defaultMaxTokensCap output limit when a request gives none: the rest of the context, at most this
     * @param cachePrompt let llama.cpp reuse a slot's cached prompt prefix (faster multi-turn chat, but the same
     *     seed may then give a different output)
     * @param closeTimeout how long {@link #close()} lets running calls finish before stopping them
     * @param idleSlotSweep how long a llama.cpp slot stays free with its last sequence in the KV cache before that
     *     sequence is replaced with a one-token one ({@link SlotIds}); zero: never. Never with {@code cachePrompt}
     *     either, whose point is to keep those sequences for the next turn of a conversation
     */
    public record Options(int defaultMaxTokensCap, boolean cachePrompt, Duration closeTimeout, Duration idleSlotSweep) {
        public static final Duration DEFAULT_IDLE_SLOT_SWEEP = Duration.ofSeconds(1);
        public static final Options DEFAULTS = new Options(4096, false, Duration.ofSeconds(60));

        public Options {
            if (defaultMaxTokensCap < 1) {
                throw new IllegalArgumentException("defaultMaxTokensCap must be positive");
            }
            Objects.requireNonNull(closeTimeout, "closeTimeout");
            if (idleSlotSweep == null || idleSlotSweep.isNegative()) {
                throw new IllegalArgumentException("idleSlotSweep must be zero or positive");
            }
        }

        public Options(int defaultMaxTokensCap, boolean cachePrompt, Duration closeTimeout) {
            this(defaultMaxTokensCap, cachePrompt, closeTimeout, DEFAULT_IDLE_SLOT_SWEEP);
        }
    }

    /** Up to this many stop strings (as the OpenAI API). */
    public static final int MAX_STOP_STRINGS = 4;
    /** Longest stop string, in characters. */
    public static final int MAX_STOP_LENGTH = 256;
    /** Most logit_bias entries per request. */
    public static final int MAX_LOGIT_BIAS = 1024;
    /** Most inputs per embeddings call. */
    public static final int MAX_EMBEDDING_INPUTS = 2048;

    private static final Logger LOG = Logger.getLogger(LlamaCppEngine.class);
    private static final String BINDING = "de.kherud:llama:4.2.0/llama.cpp-b4916";
    /** Texts llama.cpp (any version) treats as end of generation, besides the file's declared ids. */
    private static final Set<String> EOG_TEXTS = Set.of(
            "<|eot_id|>",
            "<|im_end|>",
            "<|end|>",
            "<end_of_turn>",
            "<|endoftext|>",
            "<|eom_id|>",
            "<EOT>",
            "_<EOT>",
            "<｜end▁of▁sentence｜>",
            "<|end_of_text|>",
            "<|return|>",
            "<|call|>",
            "<end_of_utterance>",
            "[EOT]");
    /** A bias that makes a token win under greedy sampling (finite: the native JSON parser takes no Infinity). */
    private static final float FORCE_BIAS = 1.0e4f;

    private static final long SLOT_POLL_MILLIS = 20;
    /** Timed tokenizations of each sample at load; 20 of the costliest kind (a regex pre-tokenizer) take some 20 ms. */
    private static final int TOKENIZER_TIMING_RUNS = 20;
    /** How long {@link #close()} waits for aborted calls to reach their next token. */
    private static final Duration ABORT_GRACE = Duration.ofSeconds(10);

    private final ModelSettings settings;
    private final Options options;
    private final GgufModelFile file;
    private final LlamaModel model;
    private final ModelInfo info;
    private final int maxChoices;
    private final Semaphore slots;
    private final SlotIds slotIds;
    /** Sweeps idle slots ({@link SlotIds}); null for an embeddings model, with the prompt cache on or the sweep off. */
    private final ScheduledExecutorService sweeper;

    private final AtomicLong sweeps = new AtomicLong();

    private final ResultTurns turns = new ResultTurns();
    private final PromptRenderer renderer;
    private final List<String> eogMarkers;
    private final TokenizerCost tokenizerCost;
    /**
     * Control tokens that do not end generation, banned while a grammar constrains the output: llama.cpp's grammar
     * matches a control token by its text (e.g. {@code </s>} as four string characters) while the output renders
     * it as nothing, so the visible JSON would break the grammar's guarantees.
     */
    private final int[] bannedUnderGrammar;
    /**
     * The longest text worth tokenizing: no token covers more characters than the vocabulary's longest token, so a
     * longer text cannot fit the context; and never more than {@link NativeThreads#MAX_TEXT_CHARS}.
     */
    private final int maxTextChars;

    private final String jsonObjectGrammar;
    private final Map<String, String> grammarCache = Collections.synchronizedMap(new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
            return size() > 128;
        }
    });
    private final Map<PreparedGeneration, int[]> preparedTokens = Collections.synchronizedMap(new WeakHashMap<>());
    /** Set by {@link #close()}: new calls are refused, calls waiting for a slot give up. */
    private volatile boolean closing;
    /** Set by {@link #close()} after its timeout: running calls stop at their next output. */
    private volatile boolean aborting;

    private volatile boolean closed;

    // ---------------------------------------------------------------------------------------------------------
    // Native library and loading

    /**
     * Sets up the JNI library once per JVM; call before the first {@link #load}. Idempotent.
     *
     * @param libraryDirectory a directory holding a pre-extracted {@code libjllama.so} (e.g. a CUDA build of the
     *     same binding version); empty to use the CPU library bundled in the jar
     * @param workDirectory a directory owned by Flatfare (never the shared {@code /tmp} itself): the bundled library
     *     is extracted there once (reused while unchanged) and the binding's temp directory points there — the
     *     binding deletes every file named {@code llama*} or {@code jllama*} in its temp directory on first use
     * @return the directory the library was loaded from
     */
    public static Path prepareNativeLibrary(Optional<Path> libraryDirectory, Path workDirectory) {
        return NativeLibrary.prepare(libraryDirectory, workDirectory);
    }

    /** {@link #prepareNativeLibrary(Optional, Path)} with the bundled CPU library. */
    public static Path prepareNativeLibrary(Path workDirectory) {
        return NativeLibrary.prepare(Optional.empty(), workDirectory);
    }

    /** Whether the loaded native library has a GPU backend ({@code gpuLayers = -1} then offloads all layers). */
    public static boolean nativeGpuBackend() {
        NativeLibrary.ensurePrepared();
        return NativeLibrary.hasGpuBackend();
    }

    /**
     * Loads a model with {@link Options#DEFAULTS}. The file is checked in Java first (exists, readable, GGUF
     * header): a missing or corrupt file is an {@link EngineException} naming the path.
     */
    public static LlamaCppEngine load(ModelSettings settings) {
        return load(settings, Options.DEFAULTS);
    }

    public static LlamaCppEngine load(ModelSettings settings, Options options) {
        return new LlamaCppEngine(settings, options);
    }

    private LlamaCppEngine(ModelSettings requested, Options options) {
        checkSettings(requested);
        this.options = Objects.requireNonNull(options, "options");
        this.maxChoices = Math.max(1, requested.maxChoices());
        NativeLibrary.ensurePrepared();
        long start = System.nanoTime();
        this.file = GgufModelFile.open(requested.path());
        ModelSettings settings = withinTrainedContext(requested, file);
        this.settings = settings;

        boolean gpu = NativeLibrary.hasGpuBackend();
        int layers = file.blockCount() > 0 ? file.blockCount() + 1 : 999;
        int gpuLayers = !gpu || settings.gpuLayers() == 0
                ? 0
                : settings.gpuLayers() < 0 ? layers : Math.min(settings.gpuLayers(), layers);
        ModelParameters parameters = new ModelParameters()
                .setModel(file.path().toString())
                .setCtxSize(Math.multiplyExact(settings.contextLength(), settings.slots()))
                .setParallel(settings.slots())
                .enableContBatching()
                .disableContextShift()
                .setLogVerbosity(-1);
        if (gpuLayers > 0) {
            // Only then: without a GPU backend llama.cpp prints a warning to stderr for any --gpu-layers.
            parameters.setGpuLayers(gpuLayers);
        }
        if (settings.flashAttention()) {
            parameters.enableFlashAttn();
        }
        if (settings.threads() > 0) {
            parameters.setThreads(settings.threads()).setThreadsBatch(settings.threads());
        }
        if (settings.embeddings()) {
            // LAST, never MEAN (MEAN trips a GGML_ASSERT in this build and aborts the JVM). Embedding tasks must
            // fit one physical batch: make it a slot's context.
            parameters
                    .enableEmbedding()
                    .setPoolingType(PoolingType.LAST)
                    .setBatchSize(settings.contextLength())
                    .setUbatchSize(settings.contextLength());
        }
        checkMemory(settings, file, gpuLayers, totalMemory());
        LlamaModel loaded;
        // One load at a time: loading resets llama.cpp's process-wide log callback (common_init), which is then
        // installed again; two loads interleaving could swap it while the other's native code uses it.
        synchronized (NativeLibrary.class) {
            try {
                loaded = new LlamaModel(parameters);
            } catch (RuntimeException | LinkageError e) {
                throw new EngineException(loadFailure(settings, file, gpuLayers, e.getMessage()), e);
            }
            NativeLibrary.installLogger();
        }
        long handle;
        try {
            handle = NativeParameters.handle(loaded);
        } catch (LinkageError e) {
            throw new EngineException("the llama.cpp binding is not the expected version (" + BINDING + ")", e);
        }
        if (handle == 0) {
            throw new EngineException("llama.cpp rejected the parameters for model file " + file.path(), null);
        }
        this.model = loaded;
        this.slots = new Semaphore(settings.slots(), true);
        this.slotIds = new SlotIds(settings.slots());
        int longestToken = file.tokens().stream().mapToInt(String::length).max().orElse(1);
        this.maxTextChars = (int)
                Math.min(NativeThreads.MAX_TEXT_CHARS, (long) settings.contextLength() * Math.max(1, longestToken));

        List<String> markers;
        try {
            Set<Integer> controlIds = new LinkedHashSet<>(file.controlTokenIds());
            int bos = file.specialId("tokenizer.ggml.bos_token_id").orElse(-1);
            int eos = file.specialId("tokenizer.ggml.eos_token_id").orElse(-1);
            Set<Integer> eogIds = new LinkedHashSet<>();
            markers = settings.embeddings() ? List.of() : verifyEndOfGeneration(eogIds);
            this.bannedUnderGrammar = controlIds.stream()
                    .filter(id -> !eogIds.contains(id))
                    .mapToInt(Integer::intValue)
                    .toArray();
            controlIds.addAll(eogIds);
            List<String> controlTexts = new ArrayList<>();
            for (int id : controlIds) {
                controlTexts.add(file.tokens().get(id));
            }
            this.renderer = new PromptRenderer(
                    this::encode,
                    model::applyTemplate,
                    controlTexts,
                    controlIds,
                    bos,
                    eos,
                    file.addBos(),
                    file.addEos());
            if (!settings.embeddings()) {
                renderer.probeTemplate();
            }
            this.jsonObjectGrammar =
                    settings.embeddings() ? null : LlamaModel.jsonSchemaToGrammar("{\"type\":\"object\"}");
        } catch (RuntimeException e) {
            // Stop the model's (non-daemon) server thread: an engine that failed to start must not keep the JVM.
            loaded.close();
            throw new EngineException("model " + settings.id() + " failed its start-up checks: " + e.getMessage(), e);
        }
        this.eogMarkers = markers;
        this.tokenizerCost = TokenizerCost.measure(text -> encode(text).length, TOKENIZER_TIMING_RUNS);

        int dimensions = settings.embeddings() ? file.embeddingLength() : 0;
        this.info = new ModelInfo(
                settings.id(),
                settings.contextLength(),
                settings.slots(),
                settings.embeddings(),
                dimensions,
                gpuLayers,
                file.vocabularySize(),
                fingerprint(gpuLayers));
        LOG.infof(
                "Loaded model %s from %s in %.0f ms: %s, %d slots x %d tokens, %d GPU layers%s, EOG markers %s,"
                        + " tokenizer %s",
                settings.id(),
                file.path(),
                (System.nanoTime() - start) / 1e6,
                file.architecture(),
                settings.slots(),
                settings.contextLength(),
                gpuLayers,
                settings.flashAttention() ? ", flash attention" : "",
                markers,
                tokenizerCost);
        if (settings.embeddings()
                || options.cachePrompt()
                || options.idleSlotSweep().isZero()) {
            this.sweeper = null;
        } else {
            this.sweeper = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform()
                    .daemon()
                    .name(settings.id() + "-slot-sweeper")
                    .factory());
            long period = Math.max(1, options.idleSlotSweep().toMillis() / 4);
            sweeper.scheduleWithFixedDelay(this::sweepIdleSlots, period, period, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * The settings a model is served with: a context above the one its file says it was trained for
     * ({@code <arch>.context_length}) is lowered to it, with a warning. Past that length the model's positions are
     * ones it never saw (no RoPE scaling is configured here) and its output degrades into noise, so it is not
     * offered; the instance reports the context it serves to the registry, and gateways advertise that.
     */
    static ModelSettings withinTrainedContext(ModelSettings requested, GgufModelFile file) {
        int trained = file.trainedContextLength();
        if (trained <= 0 || requested.contextLength() <= trained) {
            return requested;
        }
        LOG.warnf(
                "Model %s: context %d is above the %d tokens %s was trained for (%s.context_length); serving it"
                        + " with %d",
                requested.id(), requested.contextLength(), trained, file.path(), file.architecture(), trained);
        return requested.withContextLength(trained);
    }

    /**
     * What a failed native load tells the operator. The file passed the Java checks (it exists and is a readable GGUF
     * file), and llama.cpp's own messages are silenced while it loads; what is left is a file this llama.cpp cannot
     * use, or memory, whose estimate ({@link MemoryNeed}) shows a context or slot count too large for the GPU (or
     * the machine) as such.
     */
    static String loadFailure(ModelSettings settings, GgufModelFile file, int gpuLayers, String nativeMessage) {
        return "llama.cpp could not load model " + settings.id() + " from " + file.path() + " (" + nativeMessage
                + "): either this llama.cpp (" + BINDING + ") cannot use the file (architecture "
                + file.architecture() + "), or the memory it needs"
                + (gpuLayers > 0 ? " (on the GPU, " + gpuLayers + " layers)" : " (main memory)")
                + " could not be allocated: " + MemoryNeed.of(settings, file).describe()
                + "; fewer slots or a smaller context need less";
    }

    /**
     * Refuses, before llama.cpp allocates anything, a model served from main memory whose estimated need is above
     * all the memory this process may have ({@code total}: the container's limit, or the machine's memory). llama.cpp
     * reserves its attention scratch at load without touching it, so such a model would load, then be killed for
     * memory (or thrash) once long prompts fill its slots: a failure under load that belongs at start-up.
     */
    static void checkMemory(ModelSettings settings, GgufModelFile file, int gpuLayers, long total) {
        if (gpuLayers > 0 || total <= 0) {
            return;
        }
        MemoryNeed need = MemoryNeed.of(settings, file);
        if (need.total() > total) {
            throw new EngineException(
                    "model " + settings.id() + " cannot be served from " + MemoryNeed.mebibytes(total)
                            + " of memory (this container's limit, or the machine's): it needs at least "
                            + need.describe() + "; lower its slots or context, or give it more memory",
                    null);
        }
    }

    /** All the memory this process may have: the container's limit where there is one (the JDK reads cgroups). */
    private static long totalMemory() {
        return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? os.getTotalMemorySize()
                : 0;
    }

    private static ModelSettings checkSettings(ModelSettings settings) {
        Objects.requireNonNull(settings, "settings");
        Objects.requireNonNull(settings.id(), "settings.id");
        Objects.requireNonNull(settings.path(), "settings.path");
        if (settings.slots() < 1) {
            throw new IllegalArgumentException("slots must be at least 1, got " + settings.slots());
        }
        if (settings.contextLength() < 8) {
            throw new IllegalArgumentException("contextLength must be at least 8, got " + settings.contextLength());
        }
        return settings;
    }

    private String fingerprint(int gpuLayers) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update((BINDING + "|" + file.digest() + "|" + settings.contextLength() + "|" + gpuLayers + "|"
                            + options.cachePrompt() + (settings.flashAttention() ? "|fa" : ""))
                    .getBytes(StandardCharsets.UTF_8));
            return "fp_" + HexFormat.of().formatHex(sha.digest()).substring(0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Forces each candidate end-of-generation token once (greedy, huge logit bias, the token listed in
     * {@code preserved_tokens}) and keeps those that render as their text and end the stream; their ids go into
     * {@code eogIds} (llama.cpp treats EOG tokens as control tokens whatever the file says).
     */
    private List<String> verifyEndOfGeneration(Set<Integer> eogIds) {
        Set<Integer> candidates = new LinkedHashSet<>();
        for (String key : GgufModelFile.SPECIAL_ID_KEYS) {
            if (!key.equals("tokenizer.ggml.bos_token_id")) {
                file.specialId(key).ifPresent(candidates::add);
            }
        }
        for (int id = 0; id < file.tokens().size(); id++) {
            if (EOG_TEXTS.contains(file.tokens().get(id))) {
                candidates.add(id);
            }
        }
        int[] prompt = model.encode("a");
        if (prompt.length == 0) {
            prompt = new int[] {0};
        }
        List<String> markers = new ArrayList<>();
        for (int id : candidates) {
            String text = file.tokens().get(id);
            if (text.isEmpty() || !isSingleToken(text, id)) {
                LOG.warnf(
                        "Model %s: end-of-generation candidate %d '%s' cannot be shown as text; when the model"
                                + " emits it, the finish reason may read 'length'",
                        settings.id(), id, text);
                continue;
            }
            Map<String, Object> values = new LinkedHashMap<>();
            values.put("prompt", prompt);
            values.put("n_predict", 2);
            values.put("temperature", 0.0);
            values.put("logit_bias", List.of(List.of(id, FORCE_BIAS)));
            values.put("preserved_tokens", List.of(text));
            values.put("cache_prompt", false);
            List<String> outputs = new ArrayList<>();
            LlamaIterator it = model.generate(NativeParameters.of(values)).iterator();
            try {
                while (it.hasNext() && outputs.size() < 4) {
                    outputs.add(it.next().text);
                }
            } catch (RuntimeException e) {
                LOG.warnf("Model %s: probing token %d failed: %s", settings.id(), id, e.getMessage());
                continue;
            } finally {
                it.cancel();
            }
            // An EOG token: its own text, then the (empty) final output. Anything else kept generating.
            if (outputs.size() == 2
                    && outputs.get(0).equals(text)
                    && outputs.get(1).isEmpty()) {
                markers.add(text);
                eogIds.add(id);
            }
        }
        return List.copyOf(markers);
    }

    private boolean isSingleToken(String text, int id) {
        int[] ids = model.encode(text);
        return ids.length == 1 && ids[0] == id;
    }

    // ---------------------------------------------------------------------------------------------------------
    // The contract

    @Override
    public ModelInfo info() {
        return info;
    }

    @Override
    public TokenizerCost tokenizerCost() {
        return tokenizerCost;
    }

    @Override
    public int countTokens(String text) {
        open();
        Objects.requireNonNull(text, "text");
        if (text.length() > NativeThreads.MAX_TEXT_CHARS) {
            throw new IllegalArgumentException(
                    "texts longer than " + NativeThreads.MAX_TEXT_CHARS + " characters are not tokenized");
        }
        return encode(text).length + renderer.specialCount();
    }

    /**
     * llama.cpp's tokenizer (special-token text parsed, nothing added). Long texts go to a deep-stack thread: the
     * tokenizer's regex recursion per character would overflow an ordinary thread's stack ({@link NativeThreads}).
     */
    int[] encode(String text) {
        if (text.length() > NativeThreads.MAX_TEXT_CHARS) {
            throw new TextTooLong(text.length());
        }
        return text.length() <= NativeThreads.DIRECT_LIMIT
                ? model.encode(text)
                : NativeThreads.call(() -> model.encode(text));
    }

    @Override
    public PreparedGeneration prepare(GenerationRequest request) {
        Prepared prepared = prepareWithTokens(request);
        preparedTokens.put(prepared.generation(), prepared.tokens());
        return prepared.generation();
    }

    /** A prepared generation with the token ids it will send. */
    private record Prepared(PreparedGeneration generation, int[] tokens) {}

    /** A text longer than the engine tokenizes ({@link NativeThreads#MAX_TEXT_CHARS}). */
    static final class TextTooLong extends IllegalArgumentException {
        final int chars;

        TextTooLong(int chars) {
            super("text too long to tokenize: " + chars + " characters");
            this.chars = chars;
        }
    }

    private Prepared prepareWithTokens(GenerationRequest request) {
        open();
        Objects.requireNonNull(request, "request");
        if (settings.embeddings()) {
            throw new InvalidRequestException(
                    "model", "The model " + settings.id() + " is an embeddings model; it does not generate text.");
        }
        RequestChecks.check(request, file.vocabularySize(), maxChoices);
        checkLength(request);
        String grammar = grammar(request.responseFormat());

        PromptRenderer.Rendered rendered;
        String promptParam;
        if (request.isChat()) {
            try {
                rendered = renderer.chat(request.messages());
            } catch (TextTooLong e) {
                // The contents fit (checkLength), but not with the template around each of many messages: a text
                // over the tokenizer's limit is also over maxTextChars, so it holds more tokens than the context.
                throw new InvalidRequestException(
                        "messages",
                        "The messages, with this model's chat template around each of the "
                                + request.messages().size()
                                + ", come to " + e.chars + " characters, more than this model's context of "
                                + settings.contextLength() + " tokens can hold (at most " + maxTextChars + ").",
                        ErrorReasons.CONTEXT_LENGTH_EXCEEDED);
            }
            promptParam = "messages";
        } else {
            rendered = renderer.plain(request.prompt());
            promptParam = "prompt";
        }
        int promptTokens = rendered.tokens().length;
        if (promptTokens == 0) {
            throw new InvalidRequestException(promptParam, "The prompt is empty.");
        }
        int context = settings.contextLength();
        if (promptTokens >= context) {
            throw new InvalidRequestException(
                    promptParam,
                    "This model's maximum context length is " + context + " tokens. However, your "
                            + promptParam + " resulted in " + promptTokens + " tokens, which leaves no room for"
                            + " output.",
                    ErrorReasons.CONTEXT_LENGTH_EXCEEDED);
        }
        int maxTokens;
        if (request.maxTokens() == null) {
            int cap = options.defaultMaxTokensCap();
            if (request.maxTokensCap() != null && request.maxTokensCap() > 0) {
                cap = Math.min(cap, request.maxTokensCap());
            }
            maxTokens = Math.min(context - promptTokens, cap);
        } else {
            maxTokens = request.maxTokens();
            if ((long) promptTokens + maxTokens > context) {
                throw new InvalidRequestException(
                        "max_tokens",
                        "This model's maximum context length is " + context + " tokens. However, you requested "
                                + ((long) promptTokens + maxTokens) + " tokens (" + promptTokens + " in the "
                                + promptParam + ", " + maxTokens + " in the completion). Please reduce the length"
                                + " of the " + promptParam + " or max_tokens.",
                        ErrorReasons.CONTEXT_LENGTH_EXCEEDED);
            }
        }
        return new Prepared(
                new PreparedGeneration(request, rendered.text(), promptTokens, maxTokens, grammar), rendered.tokens());
    }

    /** Refuses, without tokenizing, a prompt too long to fit the context (or to tokenize safely). */
    private void checkLength(GenerationRequest request) {
        long chars = 0;
        if (request.isChat()) {
            for (ChatMessage message : request.messages()) {
                chars += message.content().length();
            }
        } else {
            chars = request.prompt().length();
        }
        if (chars > maxTextChars) {
            String param = request.isChat() ? "messages" : "prompt";
            throw new InvalidRequestException(
                    param,
                    (request.isChat() ? "The messages have " : "The prompt has ") + chars
                            + " characters, more than this model's context of "
                            + settings.contextLength() + " tokens can hold (at most " + maxTextChars + ").",
                    ErrorReasons.CONTEXT_LENGTH_EXCEEDED);
        }
    }

    @Override
    public GenerationResult stream(PreparedGeneration generation, GenerationSink sink, CancellationSignal cancel) {
        open();
        Objects.requireNonNull(generation, "generation");
        if (settings.embeddings()) {
            throw new InvalidRequestException(
                    "model", "The model " + settings.id() + " is an embeddings model; it does not generate text.");
        }
        Objects.requireNonNull(sink, "sink");
        CancellationSignal signal = cancel == null ? CancellationSignal.NEVER : cancel;
        long start = System.nanoTime();
        GenerationRequest request = generation.request();
        int[] tokens = promptTokens(generation);
        Instant deadline = request.deadline();
        if (passed(deadline)) {
            throw deadlineExceeded(new GenerationResult(tokens.length, 0, 0, false));
        }
        Run run = new Run(generation, tokens, sink, signal, start);
        if (!acquireSlot(signal, deadline)) {
            if (passed(deadline)) {
                throw deadlineExceeded(run.result(false));
            }
            return run.result(true);
        }
        run.slotId = slotIds.take();
        try {
            for (int choice = 0; choice < request.n(); choice++) {
                Ending ending = run.choice(choice);
                if (ending == Ending.CANCELLED) {
                    return run.result(true);
                }
                if (ending == Ending.DEADLINE) {
                    throw deadlineExceeded(run.result(false));
                }
            }
            return run.result(false);
        } finally {
            slotIds.giveBack(run.slotId, System.nanoTime());
            slots.release();
        }
    }

    @Override
    public EmbeddingResult embed(List<String> inputs, int dimensions, CancellationSignal cancel) {
        open();
        if (!settings.embeddings()) {
            throw new InvalidRequestException(
                    "model", "The model " + settings.id() + " was not loaded for embeddings; it cannot embed text.");
        }
        CancellationSignal signal = cancel == null ? CancellationSignal.NEVER : cancel;
        if (inputs == null || inputs.isEmpty()) {
            throw new InvalidRequestException("input", "At least one input is required.");
        }
        if (inputs.size() > MAX_EMBEDDING_INPUTS) {
            throw new InvalidRequestException(
                    "input", "At most " + MAX_EMBEDDING_INPUTS + " inputs are allowed, got " + inputs.size() + ".");
        }
        int nativeDimensions = file.embeddingLength();
        if (dimensions < 0 || dimensions > nativeDimensions) {
            throw new InvalidRequestException(
                    "dimensions",
                    // 0 is the request's "not set" (the model's own size), not a value a caller spells out.
                    "'dimensions' must be between 1 and " + nativeDimensions + " for this model (the size of its"
                            + " embeddings), got " + dimensions + ".");
        }
        int promptTokens = 0;
        for (int i = 0; i < inputs.size(); i++) {
            String input = inputs.get(i);
            if (input == null || input.isEmpty()) {
                throw new InvalidRequestException("input", "input[" + i + "] is empty.");
            }
            if (input.length() > maxTextChars) {
                throw new InvalidRequestException(
                        "input",
                        "input[" + i + "] has " + input.length() + " characters, more than this model's context of "
                                + settings.contextLength() + " tokens can hold.",
                        ErrorReasons.CONTEXT_LENGTH_EXCEEDED);
            }
            int count = countTokens(input);
            if (count == 0) {
                throw new InvalidRequestException("input", "input[" + i + "] has no tokens.");
            }
            if (count > settings.contextLength()) {
                throw new InvalidRequestException(
                        "input",
                        "input[" + i + "] has " + count + " tokens; this model's maximum is " + settings.contextLength()
                                + ".",
                        ErrorReasons.CONTEXT_LENGTH_EXCEEDED);
            }
            promptTokens += count;
        }
        if (!acquireSlot(signal, null)) {
            throw new CancellationException("embedding cancelled");
        }
        try {
            List<float[]> vectors = new ArrayList<>(inputs.size());
            for (String input : inputs) {
                if (signal.isCancelled() || aborting || Thread.currentThread().isInterrupted()) {
                    throw new CancellationException("embedding cancelled");
                }
                float[] vector;
                try {
                    // llama.cpp tokenizes the input on the calling thread: a deep-stack one (see NativeThreads).
                    vector = NativeThreads.call(() -> model.embed(input));
                } catch (RuntimeException e) {
                    throw new EngineException("llama.cpp failed to embed: " + e.getMessage(), e);
                }
                if (vector == null || vector.length != nativeDimensions) {
                    throw new EngineException(
                            "llama.cpp returned an embedding of " + (vector == null ? 0 : vector.length)
                                    + " dimensions, expected " + nativeDimensions,
                            null);
                }
                vectors.add(dimensions == 0 || dimensions == nativeDimensions ? vector : truncate(vector, dimensions));
            }
            return new EmbeddingResult(List.copyOf(vectors), promptTokens);
        } finally {
            slots.release();
        }
    }

    /** The first {@code dimensions} components, L2-normalised again (as the OpenAI API's {@code dimensions}). */
    static float[] truncate(float[] vector, int dimensions) {
        float[] out = new float[dimensions];
        double norm = 0;
        for (int i = 0; i < dimensions; i++) {
            norm += (double) vector[i] * vector[i];
        }
        double scale = norm > 0 ? 1.0 / Math.sqrt(norm) : 0;
        for (int i = 0; i < dimensions; i++) {
            out[i] = (float) (vector[i] * scale);
        }
        return out;
    }

    @Override
    public void warmUp() {
        open();
        long start = System.nanoTime();
        if (settings.embeddings()) {
            embed(List.of("Warm up."), 0, CancellationSignal.NEVER);
        } else {
            GenerationSink ignore = new GenerationSink() {
                @Override
                public void onDelta(int index, String text) {}

                @Override
                public void onChoiceFinished(int index, FinishReason reason) {}
            };
            List<ChatMessage> messages = List.of(
                    new ChatMessage("system", "You are a helpful assistant.", null),
                    new ChatMessage("user", "Say hello.", null));
            stream(
                    prepare(request(messages, 2, ResponseFormat.TEXT, List.of("\n\n"))),
                    ignore,
                    CancellationSignal.NEVER);
            ResponseFormat json = new ResponseFormat("json_object", null, null, false);
            stream(prepare(request(messages, 2, json, null)), ignore, CancellationSignal.NEVER);
        }
        LOG.infof("Warmed up model %s in %.0f ms", settings.id(), (System.nanoTime() - start) / 1e6);
    }

    private static GenerationRequest request(
            List<ChatMessage> messages, int maxTokens, ResponseFormat format, List<String> stop) {
        return new GenerationRequest(
                "warm-up", messages, null, maxTokens, null, 0f, null, 1L, stop, null, null, null, 1, format, 0, false,
                null, null);
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closing) {
                return;
            }
            closing = true;
        }
        if (sweeper != null) {
            sweeper.shutdown(); // a sweep under way holds a permit: awaited below like any call
        }
        boolean drained = awaitAllSlots(options.closeTimeout());
        if (!drained) {
            LOG.warnf(
                    "Model %s: calls still running after %s; stopping them at their next token",
                    settings.id(), options.closeTimeout());
            aborting = true;
            drained = awaitAllSlots(ABORT_GRACE);
        }
        closed = true;
        if (drained) {
            model.close();
            LOG.infof("Closed model %s", settings.id());
        } else {
            LOG.warnf("Model %s: calls still running; leaving llama.cpp open (closing it would hang)", settings.id());
        }
    }

    private boolean awaitAllSlots(Duration timeout) {
        try {
            return slots.tryAcquire(settings.slots(), timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Generation

    private enum Ending {
        DONE,
        CANCELLED,
        DEADLINE
    }

    /** One {@link #stream} call: its choices, one after another, and their accounting. */
    private final class Run {
        private final PreparedGeneration generation;
        private final GenerationRequest request;
        private final int[] prompt;
        private final GenerationSink sink;
        private final CancellationSignal cancel;
        private final long start;
        private long firstOutput;
        private int completionTokens;
        /** The llama.cpp slot this generation runs in. */
        private int slotId;

        Run(PreparedGeneration generation, int[] prompt, GenerationSink sink, CancellationSignal cancel, long start) {
            this.generation = generation;
            this.request = generation.request();
            this.prompt = prompt;
            this.sink = sink;
            this.cancel = cancel;
            this.start = start;
        }

        GenerationResult result(boolean cancelled) {
            return new GenerationResult(
                    prompt.length, completionTokens, firstOutput == 0 ? 0 : firstOutput - start, cancelled);
        }

        Ending choice(int index) {
            int maxTokens = generation.maxTokens();
            LlamaIterator it;
            try {
                it = model.generate(parameters(index)).iterator();
            } catch (RuntimeException e) {
                throw new EngineException("llama.cpp refused the request: " + e.getMessage(), e);
            }
            StopMatcher stops = new StopMatcher(request.stop());
            int tokens = 0;
            // Non-ASCII outputs whose tokens are counted only if the count is needed (see countLater).
            List<String> uncounted = new ArrayList<>();
            String heldMarker = null;
            Ending ending = null;
            FinishReason reason = null;
            long previous = 0; // when this choice's previous output arrived
            try {
                if (request.echo()
                        && request.prompt() != null
                        && !request.prompt().isEmpty()) {
                    sink.onDelta(index, request.prompt());
                }
                while (it.hasNext()) {
                    if (cancel.isCancelled()
                            || aborting
                            || Thread.currentThread().isInterrupted()) {
                        ending = Ending.CANCELLED;
                        break;
                    }
                    if (passed(request.deadline())) {
                        ending = Ending.DEADLINE;
                        break;
                    }
                    LlamaOutput output;
                    try {
                        // One waiter at a time in the binding's result queue, which spins otherwise (ResultTurns).
                        output = previous == 0 ? turns.first(it::next) : turns.next(it::next, previous);
                        previous = System.nanoTime();
                    } catch (RuntimeException e) {
                        throw new EngineException("llama.cpp failed while generating: " + e.getMessage(), e);
                    }
                    if (firstOutput == 0) {
                        firstOutput = Math.max(1, System.nanoTime());
                    }
                    if (!it.hasNext()) {
                        // The final output (stream mode: empty). The stream ended by itself.
                        break;
                    }
                    String raw = output.text;
                    String marker = endMarker(raw);
                    tokens += marker == null ? countLater(raw, uncounted) : 1 + countLater(raw, marker, uncounted);
                    String text = raw;
                    if (heldMarker != null) {
                        text = heldMarker + text; // it was text after all
                        heldMarker = null;
                    }
                    if (marker != null) {
                        text = text.substring(0, text.length() - marker.length());
                        heldMarker = marker;
                    }
                    emit(index, stops.accept(text));
                    if (stops.matched()) {
                        reason = FinishReason.STOP;
                        break;
                    }
                }
                if (ending == null) {
                    ending = Ending.DONE;
                    if (reason == null) {
                        if (heldMarker != null) {
                            reason = FinishReason.STOP;
                        } else {
                            reason = FinishReason.LENGTH;
                            tokens = maxTokens; // llama.cpp stopped at n_predict: exact
                        }
                        emit(index, stops.finish());
                    }
                }
            } finally {
                it.cancel();
                if (reason != FinishReason.LENGTH) {
                    tokens += countNow(uncounted);
                }
                completionTokens += Math.min(tokens, maxTokens);
            }
            if (ending == Ending.DONE) {
                sink.onChoiceFinished(index, reason);
            }
            return ending;
        }

        private void emit(int index, String text) {
            if (!text.isEmpty()) {
                sink.onDelta(index, text);
            }
        }

        private InferenceParameters parameters(int choice) {
            Map<String, Object> values = new LinkedHashMap<>();
            values.put("prompt", prompt);
            values.put("n_predict", generation.maxTokens());
            values.put("temperature", request.temperature() == null ? 1.0f : request.temperature());
            values.put("top_p", request.topP() == null ? 1.0f : request.topP());
            // OpenAI sampling: temperature and nucleus only (llama.cpp defaults to top_k 40, min_p 0.05).
            values.put("top_k", 0);
            values.put("min_p", 0.0f);
            values.put("typical_p", 1.0f);
            values.put("repeat_penalty", 1.0f);
            float presence = request.presencePenalty() == null ? 0f : request.presencePenalty();
            float frequency = request.frequencyPenalty() == null ? 0f : request.frequencyPenalty();
            values.put("presence_penalty", presence);
            values.put("frequency_penalty", frequency);
            if (presence != 0f || frequency != 0f) {
                values.put("repeat_last_n", -1); // the whole context, as OpenAI's penalties
            }
            if (request.seed() != null) {
                values.put("seed", nativeSeed(request.seed() + choice));
            }
            if (generation.grammar() != null) {
                values.put("grammar", generation.grammar());
            }
            Map<Integer, Object> bias = new LinkedHashMap<>();
            if (request.logitBias() != null) {
                // -100 bans the token outright (llama.cpp reads false as -infinity).
                request.logitBias().forEach((token, value) -> bias.put(token, value <= -100f ? Boolean.FALSE : value));
            }
            if (generation.grammar() != null) {
                for (int id : bannedUnderGrammar) {
                    bias.put(id, Boolean.FALSE);
                }
            }
            if (!bias.isEmpty()) {
                List<List<Object>> pairs = new ArrayList<>(bias.size());
                bias.forEach((token, value) -> pairs.add(List.of(token, value)));
                values.put("logit_bias", pairs);
            }
            values.put("preserved_tokens", eogMarkers);
            values.put("cache_prompt", options.cachePrompt());
            values.put("id_slot", slotId);
            return NativeParameters.of(values);
        }
    }

    /** The EOG marker {@code raw} ends with, or null. */
    private String endMarker(String raw) {
        for (String marker : eogMarkers) {
            if (raw.endsWith(marker)) {
                return marker;
            }
        }
        return null;
    }

    /** Tokens in one output (see the class comment): ASCII or empty is one; otherwise re-encoded. */
    int estimateTokens(String text) {
        if (text.isEmpty()) {
            return 1;
        }
        boolean ascii = true;
        for (int i = 0; i < text.length() && ascii; i++) {
            ascii = text.charAt(i) < 0x80;
        }
        if (ascii) {
            return 1;
        }
        int replacements = 0;
        StringBuilder rest = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\uFFFD') {
                replacements++;
            } else {
                rest.append(c);
            }
        }
        int encoded = rest.isEmpty() ? 0 : encode(rest.toString()).length;
        return Math.max(1, replacements + encoded);
    }

    /**
     * The tokens of one output when that is cheap (ASCII or empty: one); a non-ASCII output is kept in {@code
     * uncounted} and 0 returned. Re-encoding it costs a native tokenizer call (with a regex pre-tokenizer,
     * hundreds of microseconds on the slot thread, per output), and the count is needed only when the choice does
     * not end at max tokens, where llama.cpp's own count is exact: so it is done once, at the end, if at all.
     */
    private int countLater(String text, List<String> uncounted) {
        for (int i = 0; i < text.length(); i++) {
            if (text.charAt(i) >= 0x80) {
                uncounted.add(text);
                return 0;
            }
        }
        return 1;
    }

    /** {@link #countLater} for the text before an EOG marker in the same output (nothing when it was the marker alone). */
    private int countLater(String raw, String marker, List<String> uncounted) {
        String before = raw.substring(0, raw.length() - marker.length());
        return before.isEmpty() ? 0 : countLater(before, uncounted);
    }

    /** The tokens of the outputs {@link #countLater} kept, each estimated on its own as when it arrived. */
    private int countNow(List<String> uncounted) {
        int tokens = 0;
        for (String text : uncounted) {
            try {
                tokens += estimateTokens(text);
            } catch (RuntimeException e) {
                tokens++; // counting must not hide why the stream ended; an output is at least one token
            }
        }
        return tokens;
    }

    /**
     * The 64-bit seed as llama.cpp's unsigned 32-bit one: the two halves xor-ed (deterministic, documented
     * collisions); {@code 0xFFFFFFFF} means "random" to llama.cpp, so it becomes {@code 0xFFFFFFFE}.
     */
    static long nativeSeed(long seed) {
        long folded = (seed ^ (seed >>> 32)) & 0xFFFF_FFFFL;
        return folded == 0xFFFF_FFFFL ? 0xFFFF_FFFEL : folded;
    }

    /**
     * The token ids of a prepared generation. A generation this engine did not prepare (or whose ids were
     * collected) is prepared again and must come out the same: nothing unchecked reaches llama.cpp.
     */
    private int[] promptTokens(PreparedGeneration generation) {
        int[] tokens = preparedTokens.get(generation);
        if (tokens != null) {
            return tokens;
        }
        Prepared again = prepareWithTokens(generation.request());
        if (!again.generation().equals(generation)) {
            throw new IllegalArgumentException("the generation was not prepared by model " + settings.id());
        }
        return again.tokens();
    }

    private String grammar(ResponseFormat format) {
        if (format == null || format.type().equals("text")) {
            return null;
        }
        if (format.type().equals("json_object")) {
            return jsonObjectGrammar;
        }
        String normalized = JsonSchemaGuard.normalize(format.schema());
        String grammar = grammarCache.get(normalized);
        if (grammar == null) {
            // On a deep-stack thread: the converter's regexes recurse per character of a property name.
            grammar = NativeThreads.call(() -> LlamaModel.jsonSchemaToGrammar(normalized));
            if (!grammar.contains("root ::=")) {
                throw new InvalidRequestException(
                        "response_format", "The JSON schema cannot be turned into a grammar.");
            }
            grammarCache.put(normalized, grammar);
        }
        return grammar;
    }

    private boolean acquireSlot(CancellationSignal cancel, Instant deadline) {
        try {
            while (!slots.tryAcquire(SLOT_POLL_MILLIS, TimeUnit.MILLISECONDS)) {
                if (cancel.isCancelled() || passed(deadline) || closing) {
                    return false;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        if (closing) {
            slots.release();
            return false;
        }
        return true;
    }

    /** Sweeps every slot left idle with a sequence in it, one at a time, each under a permit of its own. */
    private void sweepIdleSlots() {
        try {
            while (!closing && slots.tryAcquire(0, TimeUnit.SECONDS)) {
                try {
                    OptionalInt id = slotIds.claimIdle(
                            System.nanoTime(), options.idleSlotSweep().toNanos());
                    if (id.isEmpty()) {
                        return;
                    }
                    try {
                        sweep(id.getAsInt());
                    } finally {
                        slotIds.swept(id.getAsInt());
                    }
                } finally {
                    slots.release();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // closing
        } catch (RuntimeException e) {
            // Never let the scheduled task die; the slot counts as swept and is not tried again until used.
            LOG.warnf("Model %s: sweeping an idle slot failed: %s", settings.id(), e.getMessage());
        }
    }

    /** Replaces slot {@code slotId}'s sequence in the KV cache with one token (llama.cpp drops the old one first). */
    private void sweep(int slotId) {
        Map<String, Object> values = new LinkedHashMap<>();
        values.put("prompt", new int[] {0});
        values.put("n_predict", 1);
        values.put("temperature", 0.0f);
        values.put("cache_prompt", false);
        values.put("id_slot", slotId);
        LlamaIterator it = model.generate(NativeParameters.of(values)).iterator();
        try {
            while (it.hasNext()) {
                it.next();
            }
        } finally {
            it.cancel();
        }
        sweeps.incrementAndGet();
    }

    /** Whether idle slots are swept at all. */
    boolean sweepsIdleSlots() {
        return sweeper != null;
    }

    /** Slots swept so far. */
    long sweeps() {
        return sweeps.get();
    }

    /** Free slots that still hold a finished sequence. */
    List<Integer> slotsHoldingSequences() {
        return slotIds.holdingSequences();
    }

    /** llama.cpp's slots free now, the next to be taken first. */
    List<Integer> freeSlotIds() {
        return slotIds.free();
    }

    private void open() {
        if (closing || closed) {
            throw new EngineException("model " + settings.id() + " is closed", null);
        }
    }

    private static boolean passed(Instant deadline) {
        return deadline != null && !Instant.now().isBefore(deadline);
    }

    private static DeadlineExceededException deadlineExceeded(GenerationResult partial) {
        return new DeadlineExceededException("The request's deadline passed.", partial);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Request validation

    /** Checks of a request's parameters, before any native call. */
    static final class RequestChecks {

        private RequestChecks() {}

        static void check(GenerationRequest r, int vocabularySize, int maxChoices) {
            boolean chat = r.messages() != null;
            boolean plain = r.prompt() != null;
            if (chat == plain) {
                throw new InvalidRequestException(
                        chat ? "prompt" : "messages", "Exactly one of messages and prompt must be given.");
            }
            if (chat) {
                checkMessages(r.messages());
            }
            if (r.maxTokens() != null && r.maxTokens() < 1) {
                throw new InvalidRequestException(
                        "max_tokens", "max_tokens must be at least 1, got " + r.maxTokens() + ".");
            }
            range("temperature", r.temperature(), 0, 2);
            range("top_p", r.topP(), 0, 1);
            range("presence_penalty", r.presencePenalty(), -2, 2);
            range("frequency_penalty", r.frequencyPenalty(), -2, 2);
            checkStop(r.stop());
            checkLogitBias(r.logitBias(), vocabularySize);
            if (r.n() < 1 || r.n() > maxChoices) {
                throw new InvalidRequestException(
                        "n", "n must be between 1 and " + maxChoices + " for this model, got " + r.n() + ".");
            }
            if (r.logprobs() < 0) {
                throw new InvalidRequestException("logprobs", "logprobs must be 0 or more, got " + r.logprobs() + ".");
            }
            if (r.logprobs() > 0) {
                throw new InvalidRequestException(
                        "logprobs", "logprobs are not supported by this model.", ErrorReasons.UNSUPPORTED_PARAMETER);
            }
            if (r.suffix() != null && !r.suffix().isEmpty()) {
                throw new InvalidRequestException(
                        "suffix",
                        "suffix is not supported: this model has no fill-in-the-middle mode.",
                        ErrorReasons.UNSUPPORTED_PARAMETER);
            }
            if (r.echo() && chat) {
                throw new InvalidRequestException("echo", "echo is only supported for prompts.");
            }
            ResponseFormat format = r.responseFormat();
            if (format != null) {
                String type = format.type();
                if (type == null
                        || !List.of("text", "json_object", "json_schema").contains(type)) {
                    throw new InvalidRequestException(
                            "response_format",
                            "response_format type must be one of text, json_object, json_schema; got " + type + ".");
                }
                if (type.equals("json_schema")) {
                    String name = format.schemaName();
                    if (name != null && !name.matches("[A-Za-z0-9_-]{1,64}")) {
                        throw new InvalidRequestException(
                                "response_format",
                                "response_format json_schema name must be 1 to 64 letters, digits, '_' or '-'.");
                    }
                    if (format.schema() == null) {
                        throw new InvalidRequestException(
                                "response_format", "response_format json_schema needs a schema.");
                    }
                }
            }
        }

        private static void checkMessages(List<ChatMessage> messages) {
            if (messages.isEmpty()) {
                throw new InvalidRequestException("messages", "messages must not be empty.");
            }
            for (int i = 0; i < messages.size(); i++) {
                ChatMessage message = messages.get(i);
                if (message == null) {
                    throw new InvalidRequestException("messages", "messages[" + i + "] is null.");
                }
                if (!PromptRenderer.isKnownRole(message.role())) {
                    throw new InvalidRequestException(
                            "messages",
                            "messages[" + i + "].role must be one of system, developer, user, assistant, tool; got "
                                    + message.role() + ".");
                }
                if (message.content() == null) {
                    throw new InvalidRequestException("messages", "messages[" + i + "].content must not be null.");
                }
            }
        }

        private static void range(String param, Float value, float min, float max) {
            if (value != null && !(value >= min && value <= max)) {
                throw new InvalidRequestException(
                        param, param + " must be between " + fmt(min) + " and " + fmt(max) + ", got " + value + ".");
            }
        }

        private static String fmt(float v) {
            return v == Math.rint(v) ? Integer.toString((int) v) : Float.toString(v);
        }

        private static void checkStop(List<String> stop) {
            if (stop == null) {
                return;
            }
            if (stop.size() > MAX_STOP_STRINGS) {
                throw new InvalidRequestException(
                        "stop",
                        "At most " + MAX_STOP_STRINGS + " stop sequences are allowed, got " + stop.size() + ".");
            }
            for (String s : stop) {
                if (s == null || s.isEmpty()) {
                    throw new InvalidRequestException("stop", "Stop sequences must not be empty.");
                }
                if (s.length() > MAX_STOP_LENGTH) {
                    throw new InvalidRequestException(
                            "stop", "Stop sequences must be at most " + MAX_STOP_LENGTH + " characters long.");
                }
            }
        }

        private static void checkLogitBias(Map<Integer, Float> bias, int vocabularySize) {
            if (bias == null) {
                return;
            }
            if (bias.size() > MAX_LOGIT_BIAS) {
                throw new InvalidRequestException(
                        "logit_bias", "At most " + MAX_LOGIT_BIAS + " logit_bias entries are allowed.");
            }
            for (var entry : bias.entrySet()) {
                Integer token = entry.getKey();
                Float value = entry.getValue();
                if (token == null || token < 0 || token >= vocabularySize) {
                    throw new InvalidRequestException(
                            "logit_bias",
                            "logit_bias token " + token + " is not in this model's vocabulary (0 to "
                                    + (vocabularySize - 1) + ").");
                }
                if (value == null || !(value >= -100f && value <= 100f)) {
                    throw new InvalidRequestException(
                            "logit_bias",
                            "logit_bias values must be between -100 and 100, got " + value + " for token " + token
                                    + ".");
                }
            }
        }
    }
}
