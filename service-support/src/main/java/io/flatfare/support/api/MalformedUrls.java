package io.flatfare.support.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.vertx.http.runtime.security.SecurityHandlerPriorities;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;
import java.net.URI;
import java.net.URISyntaxException;

/**
 * Answers a request whose URL is malformed with a 400 in the {@link ApiError} envelope: one that is not a URI (a space,
 * a {@code |} or a {@code "} not percent-encoded), or whose path or query does not decode (a {@code %} not followed by
 * two hexadecimal digits), or that holds a NUL character ({@code %00}: no id, name or parameter of any Flatfare API
 * has one, and PostgreSQL cannot store or compare one, so a lookup with it failed as a 500). Quarkus' HTTP layer
 * refuses the first kind itself, with an empty 400 that no client library can read, unless the system property
 * {@value #QUARKUS_URI_CHECK} is true: {@link io.flatfare.support.ServiceMain} sets it ({@link #takeOverUriCheck}), the
 * build sets it for tests. Left to Vert.x, the second kind fails the router while it
 * matches routes (matching decodes the path), with the same empty 400. Nothing else runs for such a request: no
 * authentication, no usage event.
 */
@Singleton
public class MalformedUrls {

    /** Read once, when Quarkus' HTTP recorder class is initialized: it must be set before the application starts. */
    public static final String QUARKUS_URI_CHECK = "vertx.disableURIValidation";

    /**
     * Right after the CORS filter (a route of order -300), so a browser can read the 400 too; before every route with
     * a path.
     */
    public static final int ORDER = -SecurityHandlerPriorities.CORS + 1;

    static final String MESSAGE = "The request URL is malformed: percent-encode spaces and other special characters,"
            + " and follow each '%' with two hexadecimal digits.";

    static final String NUL_MESSAGE =
            "The request URL holds a NUL character (%00), which no path or parameter may hold.";

    /**
     * Makes this route, not Quarkus' HTTP layer, refuse what {@link java.net.URI} does not parse, so that the refusal
     * is in the envelope. For a service's {@code main}, before {@code Quarkus.run}.
     */
    public static void takeOverUriCheck() {
        System.setProperty(QUARKUS_URI_CHECK, "true");
    }

    void install(@Observes Router router, ObjectMapper json) throws JsonProcessingException {
        Buffer malformed = envelope(json, MESSAGE);
        Buffer nul = envelope(json, NUL_MESSAGE);
        router.route().order(ORDER).handler(context -> {
            if (!decodes(context)) {
                refuse(context, malformed);
            } else if (holdsNul(context.request().uri())) {
                refuse(context, nul);
            } else {
                context.next();
            }
        });
    }

    private static Buffer envelope(ObjectMapper json, String message) throws JsonProcessingException {
        return Buffer.buffer(json.writeValueAsBytes(
                new ApiError(new ApiError.Body(message, "invalid_request_error", null, "invalid_url"))));
    }

    /**
     * Whether a URL that decodes holds an encoded NUL: {@code %00} is the only way to write one (a raw NUL byte is
     * refused by the HTTP parser), and {@code %2500}, a literal "%00", does not contain it.
     */
    static boolean holdsNul(String uri) {
        return uri.contains("%00");
    }

    /**
     * Whether the URL parses as a URI (Quarkus' own check) and its path and query decode; Vert.x decodes both once
     * per request and keeps them.
     */
    static boolean decodes(RoutingContext context) {
        try {
            new URI(context.request().uri());
            context.normalizedPath();
            if (context.request().query() != null) {
                context.request().params();
            }
            return true;
        } catch (URISyntaxException | IllegalArgumentException e) {
            return false;
        }
    }

    private static void refuse(RoutingContext context, Buffer body) {
        var response = context.response().setStatusCode(400).putHeader(HttpHeaders.CONTENT_TYPE, "application/json");
        // A body sent with the request is never read: HTTP/1.1 cannot skip it but by closing. HTTP/2 resets the
        // stream by itself, and a connection header there is a protocol error that would lose the answer.
        if (context.request().version() != HttpVersion.HTTP_2) {
            response.putHeader(HttpHeaders.CONNECTION, "close");
        }
        response.end(body);
    }
}
