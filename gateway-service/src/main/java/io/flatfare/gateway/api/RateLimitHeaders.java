package io.flatfare.gateway.api;

import io.flatfare.gateway.limits.RateLimitStatus;
import java.time.Duration;
import java.util.Map;

/** The {@code x-ratelimit-*-requests} headers, with the reset written as OpenAI does ({@code 1s}, {@code 6m0s}). */
public final class RateLimitHeaders {

    private RateLimitHeaders() {}

    public static void put(RateLimitStatus rate, Map<String, String> headers) {
        headers.put("x-ratelimit-limit-requests", Long.toString(rate.limit()));
        headers.put("x-ratelimit-remaining-requests", Long.toString(Math.max(0, rate.remaining())));
        headers.put("x-ratelimit-reset-requests", duration(rate.reset()));
    }

    static String duration(Duration d) {
        long millis = Math.max(0, d.toMillis());
        if (millis < 1000) {
            return millis + "ms";
        }
        long seconds = (millis + 999) / 1000;
        long hours = seconds / 3600;
        long minutes = (seconds % 3600) / 60;
        long rest = seconds % 60;
        if (hours > 0) {
            return hours + "h" + minutes + "m" + rest + "s";
        }
        return minutes > 0 ? minutes + "m" + rest + "s" : rest + "s";
    }
}
