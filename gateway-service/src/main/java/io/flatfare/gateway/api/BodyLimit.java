package io.flatfare.gateway.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flatfare.gateway.config.ApiConfig;
import io.flatfare.support.api.ApiError;
import io.vertx.core.http.HttpHeaders;
import io.vertx.ext.web.Router;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;

/**
 * Refuses a {@code /v1} body over the limit from its {@code Content-Length}, before a byte of it is read, with a 413
 * in the OpenAI envelope. (A chunked body without a length is cut by {@code quarkus.http.limits.max-body-size}, set
 * to the same limit.) Nothing else happens for such a request: no authentication, no usage event.
 */
@Singleton
public class BodyLimit {

    void install(@Observes Router router, ApiConfig config, ObjectMapper json) throws JsonProcessingException {
        OpenAiException error = OpenAiException.bodyTooLarge(config.maxBodyBytes());
        byte[] body = json.writeValueAsBytes(
                new ApiError(new ApiError.Body(error.getMessage(), error.type(), error.param(), error.code())));
        router.route("/v1/*").order(Integer.MIN_VALUE).handler(context -> {
            String length = context.request().getHeader(HttpHeaders.CONTENT_LENGTH);
            if (length != null && tooLong(length, config.maxBodyBytes())) {
                context.response()
                        .setStatusCode(413)
                        .putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
                        .putHeader(HttpHeaders.CONNECTION, "close")
                        .end(io.vertx.core.buffer.Buffer.buffer(body));
                return;
            }
            context.next();
        });
    }

    private static boolean tooLong(String length, long limit) {
        try {
            return Long.parseLong(length.strip()) > limit;
        } catch (NumberFormatException e) {
            return false; // A malformed length is Vert.x's to refuse.
        }
    }
}
