package io.flatfare.gateway.api.dto;

/** {@code stream_options}: {@code include_usage} adds a last chunk with empty choices and the usage. */
public record StreamOptions(Boolean includeUsage) {}
