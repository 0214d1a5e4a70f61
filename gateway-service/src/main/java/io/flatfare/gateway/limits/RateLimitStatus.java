package io.flatfare.gateway.limits;

import java.time.Duration;

/**
 * The request rate limit as seen by one request, for the {@code x-ratelimit-*-requests} headers.
 *
 * @param limit requests allowed per window
 * @param remaining requests left in the current window after this one
 * @param reset time until the window resets
 */
public record RateLimitStatus(long limit, long remaining, Duration reset) {}
