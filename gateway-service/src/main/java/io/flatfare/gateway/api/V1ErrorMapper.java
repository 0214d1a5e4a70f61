package io.flatfare.gateway.api;

import io.flatfare.gateway.account.AccountsUnavailableException;
import io.flatfare.gateway.config.ApiConfig;
import io.flatfare.gateway.limits.LimitExceededException;
import io.flatfare.gateway.limits.LimitsUnavailableException;
import io.flatfare.gateway.responses.ResponseStoreUnavailableException;
import io.flatfare.gateway.routing.UpstreamException;
import io.flatfare.support.api.ApiError;
import jakarta.inject.Inject;
import jakarta.ws.rs.core.Response;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

/**
 * The one error path of {@code /v1/*}: every failure becomes OpenAI's envelope with its status and retry headers.
 * (Malformed JSON and unknown paths are mapped by the shared {@code ErrorMapper}, already in the same envelope.)
 */
public class V1ErrorMapper {

    @Inject
    ApiConfig config;

    @ServerExceptionMapper
    public Response openAi(OpenAiException e) {
        return response(e);
    }

    /** The failures of other layers that {@link Failures} turns into OpenAI's errors (limits, upstream, storage). */
    @ServerExceptionMapper({
        LimitExceededException.class,
        LimitsUnavailableException.class,
        UpstreamException.class,
        ResponseStoreUnavailableException.class,
        AccountsUnavailableException.class
    })
    public Response failure(RuntimeException e) {
        return response(Failures.toOpenAi(e, config.unavailableRetryAfter()));
    }

    static Response response(OpenAiException e) {
        Response.ResponseBuilder builder =
                Response.fromResponse(ApiError.response(e.status(), e.type(), e.getMessage(), e.param(), e.code()));
        e.headers().forEach(builder::header);
        return builder.build();
    }
}
