package io.flatfare.metering.api;

import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.HttpHeaders;

/** The query of every reconciliation endpoint: range, paging and answer format. */
public class ReconciliationQuery {

    /** First UTC day ({@code YYYY-MM-DD}); with a JSON body, the body's {@code from} when absent. */
    @QueryParam("from")
    String from;

    /** Last UTC day, inclusive; with a JSON body, the body's {@code to} when absent. */
    @QueryParam("to")
    String to;

    /** The previous page's {@code next_after}. */
    @QueryParam("after")
    String after;

    /** Taken as text: the service checks it, so a bad one is a 400 naming {@code limit}. */
    @QueryParam("limit")
    String limit;

    /** {@code json} or {@code csv}; wins over {@code Accept}. */
    @QueryParam("format")
    String format;

    @HeaderParam(HttpHeaders.ACCEPT)
    String accept;
}
