package io.flatfare.support.api;

import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.Response;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;

/**
 * Bearer-token checks for operator APIs. No or malformed credentials are 401 (with {@code WWW-Authenticate:
 * Bearer}), a wrong token is 403. Comparisons take the same time whatever the token, so they leak nothing.
 */
public final class BearerTokens {

    private BearerTokens() {}

    /** The token of an {@code Authorization: Bearer <token>} header, if the request carries a well-formed one. */
    public static Optional<String> token(ContainerRequestContext request) {
        String header = request.getHeaderString(HttpHeaders.AUTHORIZATION);
        if (header == null || header.length() <= 7 || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return Optional.empty();
        }
        String token = header.substring(7).strip();
        return token.isEmpty() ? Optional.empty() : Optional.of(token);
    }

    public static boolean matches(String given, byte[] expected) {
        return MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), expected);
    }

    /**
     * For a request under {@code pathPrefix}: null when it carries {@code adminToken}, else the 401 or 403 to
     * answer. Requests outside the prefix pass (null).
     */
    public static Response requireAdmin(ContainerRequestContext request, String pathPrefix, byte[] adminToken) {
        if (!request.getUriInfo().getPath().startsWith(pathPrefix)) {
            return null;
        }
        Optional<String> token = token(request);
        if (token.isEmpty()) {
            return unauthorized(
                    "An admin token is required: send 'Authorization: Bearer <token>'.", "missing_admin_token");
        }
        if (!matches(token.get(), adminToken)) {
            return ApiError.response(
                    403, "permission_error", "The admin token is not valid.", null, "invalid_admin_token");
        }
        return null;
    }

    /** A 401 in the error envelope, with the challenge header clients expect. */
    public static Response unauthorized(String message, String code) {
        return Response.fromResponse(ApiError.response(401, "authentication_error", message, null, code))
                .header(HttpHeaders.WWW_AUTHENTICATE, "Bearer")
                .build();
    }
}
