package io.flatfare.support.api;

import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import jakarta.inject.Inject;
import jakarta.ws.rs.NotFoundException;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.Response;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/**
 * {@code OPTIONS} answered with the methods the path is served with, the same list a 405 names. Left to RESTEasy
 * Reactive, any path under a resource class, served or not, got every method of the class ({@code OPTIONS
 * /v1/nothing} was a 200 naming DELETE); a path no resource serves is now the same 404 as under any other method. A
 * CORS preflight never gets here: Quarkus' CORS filter answers it when CORS is on.
 */
public class OptionsRequests {

    @Inject
    AllowedMethods allowedMethods;

    @ServerRequestFilter(preMatching = true, nonBlocking = true)
    public Response options(HttpServerRequest request) {
        if (!HttpMethod.OPTIONS.equals(request.method())) {
            return null;
        }
        String allow = allowedMethods.allow(request.path()).orElseThrow(NotFoundException::new);
        return Response.ok().header(HttpHeaders.ALLOW, allow).build();
    }
}
