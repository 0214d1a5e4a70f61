package io.flatfare.gateway.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.flatfare.gateway.api.dto.ChatCompletionRequest;
import io.flatfare.gateway.service.WouldBlock;
import io.flatfare.support.api.StrictJson;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import jakarta.validation.Validation;
import jakarta.validation.ValidatorFactory;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Where a body is read: a large one leaves the event loop (here simulated: Mutiny says the thread must not block). */
class BodiesTest {

    private ValidatorFactory validation;
    private Bodies bodies;

    @BeforeEach
    void setUp() {
        validation = Validation.buildDefaultValidatorFactory();
        bodies = new Bodies(
                StrictJson.configure(new com.fasterxml.jackson.databind.ObjectMapper()), validation.getValidator());
    }

    @AfterEach
    void tearDown() {
        Infrastructure.setCanCallerThreadBeBlockedSupplier(() -> true);
        validation.close();
    }

    @Test
    void aLargeBodyIsNotReadOnAnEventLoopAndASmallOneIs() {
        byte[] small = chat(10);
        byte[] large = chat(Bodies.EVENT_LOOP_BODY_BYTES / 20);
        assertThat(small.length).isLessThanOrEqualTo(Bodies.EVENT_LOOP_BODY_BYTES);
        assertThat(large.length).isGreaterThan(Bodies.EVENT_LOOP_BODY_BYTES);

        Infrastructure.setCanCallerThreadBeBlockedSupplier(() -> false); // an event loop
        assertThat(bodies.read(small, ChatCompletionRequest.class).messages()).hasSize(10);
        assertThatThrownBy(() -> bodies.read(large, ChatCompletionRequest.class))
                .isInstanceOf(WouldBlock.class);

        Infrastructure.setCanCallerThreadBeBlockedSupplier(() -> true); // a worker thread
        assertThat(bodies.read(large, ChatCompletionRequest.class).messages())
                .hasSize(Bodies.EVENT_LOOP_BODY_BYTES / 20);
    }

    /** A chat request of {@code messages} empty user messages, about 30 bytes each. */
    private static byte[] chat(int messages) {
        StringBuilder body = new StringBuilder("{\"model\":\"m\",\"messages\":[");
        for (int i = 0; i < messages; i++) {
            body.append(i == 0 ? "" : ",").append("{\"role\":\"user\",\"content\":\"\"}");
        }
        return body.append("]}").toString().getBytes(StandardCharsets.UTF_8);
    }
}
