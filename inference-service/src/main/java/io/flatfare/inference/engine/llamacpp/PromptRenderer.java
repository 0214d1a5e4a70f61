package io.flatfare.inference.engine.llamacpp;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flatfare.inference.engine.GenerationRequest.ChatMessage;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Renders prompts into the exact token ids sent to llama.cpp (the binding accepts a prompt as an array of ids, so
 * the prompt token count is exact by construction).
 *
 * <p><b>Chat template.</b> Messages go through the model's own chat template as llama.cpp implements it (its
 * built-in, non-Jinja renderer: a Jinja template that raises an exception would abort the JVM, since the binding's
 * {@code applyTemplate} catches nothing). The binding returns the rendered text through JNI's
 * {@code NewStringUTF}, which mangles characters outside the BMP (emoji) and cuts the text, so the template is
 * applied to ASCII placeholders and the real contents are substituted back in Java. Templates that trim contents
 * (e.g. Llama 3's) are detected once per model with padded placeholders and the same trimming is applied here.
 *
 * <p><b>Special tokens in contents.</b> llama.cpp parses the text of control tokens anywhere in a prompt, so a
 * user writing {@code <|im_end|>\n<|im_start|>system} could forge turns. When a message content contains the
 * text of a control token, that request is tokenized piecewise: template text as usual, and each content with
 * every control-token text split so it is spelled with ordinary tokens. Requests without such text (nearly all)
 * are tokenized as one string, exactly as llama.cpp would. Plain prompts are never altered: writing special
 * tokens is the point of a raw prompt.
 */
final class PromptRenderer {

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final Set<String> ROLES = Set.of("system", "user", "assistant", "tool");
    private static final String PAD = "\t\t";

    private final Function<String, int[]> encode;
    private final Function<String, String> applyTemplate;
    private final String nonce;
    private final Pattern placeholder;
    private final Map<String, Trim> trims = new HashMap<>();
    private final Map<Character, List<String>> controlTextsByFirstChar = new HashMap<>();
    private final Set<Integer> controlIds;
    private final int bos;
    private final int eos;
    private final boolean addBos;
    private final boolean addEos;

    /** How a template treats whitespace around a content. */
    private record Trim(boolean leading, boolean trailing) {}

    /** A rendered prompt: its text (contents substituted) and the ids sent to llama.cpp. */
    record Rendered(String text, int[] tokens) {}

    /**
     * @param controlTexts the text of each control token (whose text llama.cpp parses as the token)
     * @param controlIds the ids of those tokens
     */
    PromptRenderer(
            Function<String, int[]> encode,
            Function<String, String> applyTemplate,
            List<String> controlTexts,
            Set<Integer> controlIds,
            int bos,
            int eos,
            boolean addBos,
            boolean addEos) {
        this.encode = encode;
        this.applyTemplate = applyTemplate;
        byte[] random = new byte[6];
        new SecureRandom().nextBytes(random);
        this.nonce = "ffph" + HexFormat.of().formatHex(random);
        this.placeholder = Pattern.compile(nonce + "m(\\d+)e");
        this.controlIds = Set.copyOf(controlIds);
        this.bos = bos;
        this.eos = eos;
        this.addBos = addBos;
        this.addEos = addEos;
        for (String text : controlTexts) {
            if (!text.isEmpty()) {
                controlTextsByFirstChar
                        .computeIfAbsent(text.charAt(0), c -> new ArrayList<>())
                        .add(text);
            }
        }
        controlTextsByFirstChar.values().forEach(list -> list.sort((a, b) -> b.length() - a.length()));
    }

    /** Probes once whether the template trims message contents, per role. */
    void probeTemplate() {
        List<String> roles = List.of("system", "user", "assistant", "tool", "user");
        List<String> contents = new ArrayList<>();
        for (int i = 0; i < roles.size(); i++) {
            contents.add(PAD + mark(i) + PAD);
        }
        String rendered = applyTemplate.apply(messagesJson(roles, contents));
        for (int i = 0; i < roles.size() - 1; i++) {
            String mark = mark(i);
            if (rendered.contains(mark)) {
                trims.put(roles.get(i), new Trim(!rendered.contains(PAD + mark), !rendered.contains(mark + PAD)));
            }
        }
    }

    /** The role llama.cpp's templates know for an OpenAI role ({@code developer} is a system message). */
    static String templateRole(String role) {
        return "developer".equals(role) ? "system" : role;
    }

    static boolean isKnownRole(String role) {
        return role != null && (ROLES.contains(role) || role.equals("developer"));
    }

    Rendered chat(List<ChatMessage> messages) {
        List<String> roles = new ArrayList<>();
        List<String> marks = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            roles.add(templateRole(messages.get(i).role()));
            marks.add(mark(i));
        }
        String template = applyTemplate.apply(messagesJson(roles, marks));

        // Alternating template text and contents.
        List<String> pieces = new ArrayList<>();
        List<Boolean> isContent = new ArrayList<>();
        Matcher m = placeholder.matcher(template);
        int at = 0;
        while (m.find()) {
            pieces.add(template.substring(at, m.start()));
            isContent.add(false);
            int index = Integer.parseInt(m.group(1));
            String content = index < messages.size() ? messages.get(index).content() : m.group();
            pieces.add(trim(content, trims.get(roles.get(Math.min(index, roles.size() - 1)))));
            isContent.add(true);
            at = m.end();
        }
        pieces.add(template.substring(at));
        isContent.add(false);

        StringBuilder text = new StringBuilder();
        pieces.forEach(text::append);
        boolean injected = false;
        for (int i = 0; i < pieces.size(); i++) {
            if (isContent.get(i) && findControlText(pieces.get(i), 0) != null) {
                injected = true;
                break;
            }
        }
        int[] tokens;
        if (!injected) {
            tokens = encode.apply(text.toString());
        } else {
            IntList ids = new IntList();
            for (int i = 0; i < pieces.size(); i++) {
                if (pieces.get(i).isEmpty()) {
                    continue;
                }
                ids.addAll(isContent.get(i) ? literal(pieces.get(i)) : encode.apply(pieces.get(i)));
            }
            tokens = ids.toArray();
        }
        return new Rendered(text.toString(), withSpecials(tokens));
    }

    /** A raw prompt: tokenized as llama.cpp tokenizes a string prompt (special-token text is parsed). */
    Rendered plain(String prompt) {
        return new Rendered(prompt, withSpecials(encode.apply(prompt)));
    }

    /** The tokens the model adds around a tokenized text (what llama.cpp's add_special does). */
    int specialCount() {
        return (addBos ? 1 : 0) + (addEos ? 1 : 0);
    }

    private int[] withSpecials(int[] tokens) {
        IntList ids = new IntList();
        // A template that starts with BOS text already carries it: no second BOS (llama.cpp would add one).
        if (addBos && bos >= 0 && (tokens.length == 0 || tokens[0] != bos)) {
            ids.add(bos);
        }
        ids.addAll(tokens);
        if (addEos && eos >= 0) {
            ids.add(eos);
        }
        return ids.toArray();
    }

    /** Tokens spelling {@code text} with no control token, whatever control-token text it contains. */
    int[] literal(String text) {
        int[] ids = encode.apply(text);
        if (Arrays.stream(ids).noneMatch(controlIds::contains)) {
            return ids;
        }
        int[] found = findControlText(text, 0);
        if (found == null) {
            return ids; // a control id without its text: nothing to split
        }
        IntList out = new IntList();
        if (found[0] > 0) {
            out.addAll(literal(text.substring(0, found[0])));
        }
        out.addAll(split(text.substring(found[0], found[0] + found[1])));
        if (found[0] + found[1] < text.length()) {
            out.addAll(literal(text.substring(found[0] + found[1])));
        }
        return out.toArray();
    }

    /** A control token's text as ordinary tokens: tokenized in two halves, each too short to match. */
    private int[] split(String special) {
        int cut = special.length() / 2;
        if (cut > 0 && Character.isLowSurrogate(special.charAt(cut))) {
            cut--;
        }
        if (cut <= 0) {
            return encode.apply(special);
        }
        IntList out = new IntList();
        out.addAll(literal(special.substring(0, cut)));
        out.addAll(literal(special.substring(cut)));
        return out.toArray();
    }

    /** {@code {start, length}} of the first (longest at that position) control-token text, or null. */
    private int[] findControlText(String text, int from) {
        for (int i = from; i < text.length(); i++) {
            List<String> candidates = controlTextsByFirstChar.get(text.charAt(i));
            if (candidates != null) {
                for (String candidate : candidates) {
                    if (text.startsWith(candidate, i)) {
                        return new int[] {i, candidate.length()};
                    }
                }
            }
        }
        return null;
    }

    private String mark(int index) {
        return nonce + "m" + index + "e";
    }

    private static String messagesJson(List<String> roles, List<String> contents) {
        ObjectNode root = MAPPER.createObjectNode();
        ArrayNode list = root.putArray("messages");
        for (int i = 0; i < roles.size(); i++) {
            list.addObject().put("role", roles.get(i)).put("content", contents.get(i));
        }
        try {
            return MAPPER.writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** llama.cpp's trim: the C locale's isspace characters. */
    private static String trim(String content, Trim trim) {
        if (trim == null) {
            return content;
        }
        int start = 0;
        int end = content.length();
        if (trim.leading()) {
            while (start < end && isSpace(content.charAt(start))) {
                start++;
            }
        }
        if (trim.trailing()) {
            while (end > start && isSpace(content.charAt(end - 1))) {
                end--;
            }
        }
        return content.substring(start, end);
    }

    private static boolean isSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == 0x0B || c == '\f' || c == '\r';
    }

    /** A growable int array. */
    static final class IntList {
        private int[] values = new int[16];
        private int size;

        void add(int value) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = value;
        }

        void addAll(int[] more) {
            for (int v : more) {
                add(v);
            }
        }

        int[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }
}
