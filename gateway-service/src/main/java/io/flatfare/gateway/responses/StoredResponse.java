package io.flatfare.gateway.responses;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.List;

/**
 * One stored response of an account: the response object as answered, its own input items, and the conversation
 * ({@link Turn}s) a request with {@code previous_response_id} continues.
 */
public record StoredResponse(
        String id,
        String accountId,
        Instant createdAt,
        Instant expiresAt,
        ObjectNode response,
        ArrayNode inputItems,
        List<Turn> context) {

    /** One message of a stored conversation, as the model saw it. */
    public record Turn(String role, String content) {}
}
