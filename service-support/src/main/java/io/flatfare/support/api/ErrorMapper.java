package io.flatfare.support.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import io.vertx.core.http.HttpClosedException;
import io.vertx.core.http.HttpServerRequest;
import jakarta.inject.Inject;
import jakarta.validation.ConstraintViolation;
import jakarta.validation.ConstraintViolationException;
import jakarta.validation.Path;
import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.Response;
import java.io.IOException;
import java.util.Comparator;
import java.util.Optional;
import org.jboss.logging.Logger;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

/** The one error path of every Flatfare HTTP API: each failure becomes an {@link ApiError} with its status. */
public class ErrorMapper {

    private static final Logger LOG = Logger.getLogger(ErrorMapper.class);
    /** A restarting database is usually back within seconds; clients back off from there. */
    private static final String DATABASE_RETRY_AFTER_SECONDS = "2";

    @Inject
    AllowedMethods allowedMethods;

    @ServerExceptionMapper
    public Response api(ApiException e) {
        return switch (e.kind()) {
            case INVALID_ARGUMENT ->
                ApiError.response(400, "invalid_request_error", e.getMessage(), e.param(), e.code());
            case NOT_FOUND -> ApiError.response(404, "not_found_error", e.getMessage(), e.param(), e.code());
            case CONFLICT -> ApiError.response(409, "conflict_error", e.getMessage(), e.param(), e.code());
            case UNAVAILABLE -> ApiError.response(503, "api_error", e.getMessage(), e.param(), e.code());
        };
    }

    /** Reports the first violation by field name, in the API's snake_case spelling. */
    @ServerExceptionMapper
    public Response validation(ConstraintViolationException e) {
        var first = e.getConstraintViolations().stream()
                .min(Comparator.comparing(v -> v.getPropertyPath().toString()))
                .orElseThrow();
        String param = field(first);
        String message = param == null ? first.getMessage() : param + " " + first.getMessage();
        return ApiError.response(400, "invalid_request_error", message + ".", param, "invalid_value");
    }

    @ServerExceptionMapper
    public Response json(JsonProcessingException e) {
        JsonProblem problem = JsonProblem.of(e);
        return ApiError.response(400, "invalid_request_error", problem.message(), problem.param(), problem.code());
    }

    /** Quarkus ships its own mapper for this subtype; ours must be at least as specific to win. */
    @ServerExceptionMapper
    public Response mismatchedJson(MismatchedInputException e) {
        return json(e);
    }

    /**
     * The framework's own refusals. A URL or method no endpoint serves is worded as OpenAI words it ("Invalid URL
     * (POST /v1/x)", "Invalid method for URL (GET /v1/chat/completions)"), which is what a client that got its base
     * URL wrong needs to see.
     */
    @ServerExceptionMapper
    public Response web(WebApplicationException e, HttpServerRequest request) {
        if (e.getCause() instanceof JsonProcessingException json) {
            return json(json);
        }
        int status = e.getResponse().getStatus();
        String type = switch (status) {
            case 401 -> "authentication_error";
            case 403 -> "permission_error";
            default -> status >= 500 ? "api_error" : "invalid_request_error";
        };
        String message = switch (status) {
            case 404 -> "Invalid URL (" + request.method().name() + " " + request.path() + ")";
            case 405 -> "Invalid method for URL (" + request.method().name() + " " + request.path() + ")";
            default -> e.getResponse().getStatusInfo().getReasonPhrase() + ".";
        };
        Response response = ApiError.response(status, type, message, null, null);
        if (status == 405) {
            // RFC 9110 requires the methods the resource does serve; RESTEasy's own 405 names none.
            Optional<String> allow = allowedMethods.allow(request.path());
            if (allow.isPresent()) {
                return Response.fromResponse(response)
                        .header(HttpHeaders.ALLOW, allow.get())
                        .build();
            }
        }
        return response;
    }

    /**
     * A client that closes its connection while its body is still being read is not a failure of ours: nobody is
     * left to answer, and an ERROR with a stack trace per such client would bury the real ones.
     */
    @ServerExceptionMapper
    public Response io(IOException e) {
        if (Causes.find(e, HttpClosedException.class) != null) {
            LOG.debugf("The client closed the connection while its request was read: %s", e.getMessage());
            return ApiError.response(400, "invalid_request_error", "The request body could not be read.", null, null);
        }
        return unexpected(e);
    }

    /**
     * Everything else. A database that cannot be reached is no bug of ours and a retry may succeed: 503 with
     * {@code Retry-After}, logged by SQL state only (a driver's message may quote the statement's values).
     */
    @ServerExceptionMapper
    public Response unexpected(Exception e) {
        var unreachable = DatabaseFailures.unreachable(e);
        if (unreachable.isPresent()) {
            LOG.warnf(
                    "The database cannot be reached (SQL state %s)",
                    unreachable.get().getSQLState());
            return Response.fromResponse(ApiError.response(
                            503,
                            "api_error",
                            "The database cannot be reached right now; please retry shortly.",
                            null,
                            "database_unavailable"))
                    .header("Retry-After", DATABASE_RETRY_AFTER_SECONDS)
                    .build();
        }
        LOG.error("Unexpected failure in the HTTP API", e);
        return ApiError.response(500, "api_error", "Internal error.", null, null);
    }

    private static String field(ConstraintViolation<?> violation) {
        String name = null;
        int depth = 0;
        for (Path.Node node : violation.getPropertyPath()) {
            // Node 0 is the method, node 1 the parameter; the field of the body is the first node below.
            if (depth++ == 2) {
                name = node.getName();
            }
        }
        return name == null ? null : snakeCase(name);
    }

    private static String snakeCase(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(java.util.Locale.ROOT);
    }
}
