package io.flatfare.metering.api;

import io.flatfare.contracts.events.Topics;
import io.flatfare.metering.messaging.DeadLetterReplay;
import io.flatfare.support.api.Paging;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import java.time.Duration;
import java.util.Map;

/**
 * Dead letters of one cause ({@code unrateable} unless {@code cause} says otherwise) back into metering once they
 * can be rated ({@link DeadLetterReplay}). Guarded by {@link AdminAuthFilter}.
 */
@Path("/admin/dead-letters")
@Produces(MediaType.APPLICATION_JSON)
public class DeadLetterResource {

    static final int DEFAULT_LIMIT = 10_000;
    static final int MAX_LIMIT = 100_000;

    /** Long enough for a large backlog's batches, short enough for an HTTP client's patience; has_more says the rest. */
    static final Duration MAX_TIME = Duration.ofSeconds(30);

    private final DeadLetterReplay replay;

    DeadLetterResource(DeadLetterReplay replay) {
        this.replay = replay;
    }

    /** What one replay did; {@code has_more}: call again for the rest. */
    record ReplayView(String object, long replayed, Map<String, Long> passedOver, boolean hasMore) {}

    @POST
    @Path("/replay")
    public ReplayView replay(@QueryParam("cause") String cause, @QueryParam("limit") String limit) {
        var result = replay.replay(
                cause == null ? Topics.DLQ_CAUSE_UNRATEABLE : cause,
                Paging.size(limit, DEFAULT_LIMIT, MAX_LIMIT),
                MAX_TIME);
        return new ReplayView("dead_letter_replay", result.replayed(), result.passedOver(), result.hasMore());
    }
}
