/**
 * The {@link io.flatfare.inference.engine.InferenceEngine} on llama.cpp b4916 through the JNI binding
 * {@code de.kherud:llama:4.2.0}: {@link io.flatfare.inference.engine.llamacpp.LlamaCppEngine}.
 *
 * <p>The binding's sharp edges, each met while building this package, and what the engine does about them:
 *
 * <ul>
 *   <li><b>Aborts.</b> Any C++ exception escaping a JNI call kills the JVM (SIGABRT): the request JSON is parsed
 *       unguarded (so {@code NaN} or {@code Infinity} in a float parameter aborts), {@code jsonSchemaToGrammar}
 *       throws on invalid JSON and on every conversion error, {@code applyTemplate} on a Jinja template's
 *       {@code raise_exception}; {@code setNProbs(n > 0)} aborts on the response, {@code PoolingType.MEAN} trips a
 *       {@code GGML_ASSERT}; an empty embedding input aborts. Some schema patterns ({@code ^*$}, {@code ^(?:a)$})
 *       crash with SIGSEGV, a stray {@code ]} in a pattern loops forever. The tokenizer's {@code std::regex} (Qwen2-style pre-tokenizers) recurses per
 *       character of a run: a run of about 3,500 letters or spaces overflows a 1 MiB thread stack, and the JVM dies
 *       with SIGSEGV and no hs_err; the same in the schema converter's regexes. Hence: every parameter is validated in
 *       Java; floats are checked finite; schemas go through {@link
 *       io.flatfare.inference.engine.llamacpp.JsonSchemaGuard}; templates use llama.cpp's built-in (non-Jinja)
 *       renderer; logprobs are refused; pooling is LAST; empty inputs are refused; long texts are tokenized on deep-stack threads
 *       ({@link io.flatfare.inference.engine.llamacpp.NativeThreads}) and texts longer than the context could hold are
 *       refused without tokenizing.
 *   <li><b>Silent behaviour.</b> An over-long prompt is truncated and generation past the context shifts, unless
 *       {@code --no-context-shift} (set; prompt + max_tokens is checked against the slot's context); an invalid
 *       grammar is logged to stderr and ignored (never produced: schemas are normalised first); a stop string held
 *       back at the end of a stream is lost (stop strings are matched in Java); {@code setSeed} takes an int and
 *       {@code 0xFFFFFFFF} means random (seeds are folded, that value avoided); a logit bias cannot say -infinity
 *       through {@code setTokenIdBias} (the JSON {@code false} is written instead).
 *   <li><b>Text.</b> {@code applyTemplate} returns its result through {@code NewStringUTF}: characters outside the
 *       BMP are mangled and the text is cut (templates are applied to ASCII placeholders). Streamed outputs carry no
 *       token ids; tokens are merged while UTF-8 is incomplete (see the accounting in {@link
 *       io.flatfare.inference.engine.llamacpp.LlamaCppEngine}); the random test model emits invalid UTF-8, which
 *       decodes to U+FFFD and which llama.cpp's grammar accepts byte by byte. The grammar matches a control token by its
 *       text ({@code </s>}) while the output renders it as nothing (banned under a grammar); the schema converter
 *       copies pattern characters into the JSON string unescaped (a {@code "} in a pattern ends the string) and a
 *       repeated sub-pattern that can match "" makes the grammar engine recurse until SIGSEGV (both handled by
 *       the guard).
 *   <li><b>Loading.</b> {@code LlamaLoader} deletes {@code llama*}/{@code jllama*} files in its temp directory and
 *       prints to stdout when it extracts the library: {@link
 *       io.flatfare.inference.engine.llamacpp.LlamaCppEngine#prepareNativeLibrary} extracts it itself into a
 *       dedicated directory. The loader's and server's logs go to stderr unless {@code --log-verbosity -1}; loading
 *       runs {@code common_init()}, which replaces the process-wide log callback (loads are serialised and the callback
 *       installed again after each). A
 *       parameter llama.cpp's argument parser rejects leaves a null model handle without an exception (checked).
 *       Missing and corrupt files are checked in Java first (GGUF header), so the error names the path.
 *   <li><b>Threads and lifetime.</b> {@code close()} frees nothing and hangs while a stream runs; an iterator that is
 *       neither drained nor cancelled keeps its slot busy; a thread blocked in {@code receiveCompletion} cannot be
 *       interrupted, and cancelling a task from another thread while its owner waits would leave the owner waiting
 *       forever — so only the owning thread cancels, between outputs. That wait ({@code server_response::recv})
 *       checks only that the shared result queue is not empty, so a thread waiting while another stream's result is
 *       queued spins on its mutex until the owner takes it; {@link
 *       io.flatfare.inference.engine.llamacpp.ResultTurns} keeps the waits to one at a time. The server loop is a
 *       native, non-daemon thread until {@code close()}.
 *   <li><b>GPU.</b> The bundled library is CPU-only; {@code --gpu-layers} on it prints a warning to stderr. Whether
 *       a library has a GPU backend is read from the library file (CUDA/Vulkan/Metal/SYCL symbols), and layers are
 *       only offloaded then.
 * </ul>
 */
package io.flatfare.inference.engine.llamacpp;
