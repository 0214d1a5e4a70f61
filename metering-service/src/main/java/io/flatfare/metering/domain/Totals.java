package io.flatfare.metering.domain;

/** An account's counts and amount for a day or a billing period. */
public record Totals(long requests, long billableRequests, long includedRequests, long amountMicros) {

    public static final Totals NONE = new Totals(0, 0, 0, 0);
}
