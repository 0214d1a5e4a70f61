package io.flatfare.inference.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.flatfare.contracts.inference.v1.ChatInput;
import io.flatfare.contracts.inference.v1.ChatMessage;
import io.flatfare.contracts.inference.v1.GenerateRequest;
import io.flatfare.inference.engine.TokenizerCost;
import org.junit.jupiter.api.Test;

/** Which prompts are tokenized on the call's event loop and which on a worker thread. */
class PromptPlacementTest {

    private static final long BUDGET = 250_000;
    /** llama.cpp's own splitting code (GPT-2's, Llama 3's pattern), as measured on a 2-core build machine. */
    private static final TokenizerCost SPLIT_IN_CODE = new TokenizerCost(4_000, 220);
    /** A pattern llama.cpp runs through std::regex (Qwen2's), same machine. */
    private static final TokenizerCost SPLIT_BY_REGEX = new TokenizerCost(490_000, 270);

    @Test
    void aShortChatStaysOnTheEventLoopWithACheapTokenizerAndLeavesItWithARegexOne() {
        var chat = chat(2, "Say hello.");

        assertThat(InferenceGrpcService.promptFragments(chat)).isEqualTo(5);
        assertThat(InferenceGrpcService.preparesOnEventLoop(chat, SPLIT_IN_CODE, BUDGET))
                .isTrue();
        assertThat(InferenceGrpcService.preparesOnEventLoop(chat, SPLIT_BY_REGEX, BUDGET))
                .isFalse();
    }

    @Test
    void aPlainPromptIsOneFragmentAndItsLengthDecides() {
        var short_ = prompt("x".repeat(800)); // 4 µs + 176 µs
        var longer = prompt("x".repeat(1_200)); // 4 µs + 264 µs

        assertThat(InferenceGrpcService.promptFragments(short_)).isEqualTo(1);
        assertThat(InferenceGrpcService.preparesOnEventLoop(short_, SPLIT_IN_CODE, BUDGET))
                .isTrue();
        assertThat(InferenceGrpcService.preparesOnEventLoop(longer, SPLIT_IN_CODE, BUDGET))
                .isFalse();
    }

    @Test
    void pastTheCharacterLimitNoTokenizerIsCheapEnough() {
        var huge = prompt("x".repeat(InferenceGrpcService.EVENT_LOOP_PROMPT_CHARS + 1));

        assertThat(InferenceGrpcService.preparesOnEventLoop(huge, new TokenizerCost(0, 0), BUDGET))
                .isFalse();
    }

    @Test
    void aZeroBudgetSendsEveryPromptToAWorker() {
        assertThat(InferenceGrpcService.preparesOnEventLoop(prompt("hi"), SPLIT_IN_CODE, 0))
                .isFalse();
    }

    private static GenerateRequest prompt(String text) {
        return GenerateRequest.newBuilder().setModel("m").setPrompt(text).build();
    }

    private static GenerateRequest chat(int messages, String content) {
        var chat = ChatInput.newBuilder();
        for (int i = 0; i < messages; i++) {
            chat.addMessages(
                    ChatMessage.newBuilder().setRole(i == 0 ? "system" : "user").setContent(content));
        }
        return GenerateRequest.newBuilder().setModel("m").setChat(chat).build();
    }
}
