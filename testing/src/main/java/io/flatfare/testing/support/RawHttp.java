package io.flatfare.testing.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * HTTP/1.x written by hand, for what no client library sends: a URL that is not one ({@code %ZZ}, a bare {@code |}),
 * which the JDK's, RestAssured's and OkHttp's clients refuse to build.
 */
public final class RawHttp {

    /** An answer: its status code and its body, as text. */
    public record Answer(int status, String head, String body) {}

    private RawHttp() {}

    /**
     * Sends {@code GET target} with {@code Connection: close} to {@code host:port} and reads the answer to its end.
     *
     * @param target sent as written, e.g. {@code /v1/models/%ZZ}
     */
    public static Answer get(String host, int port, String target) {
        return exchange(host, port, "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
    }

    /** Writes {@code request} as given, ISO-8859-1, and reads until the server closes the connection (30 s at most). */
    public static Answer exchange(String host, int port, String request) {
        return exchange(host, port, request, true);
    }

    /**
     * Writes {@code request} as given and, its own side left open as a client that stopped sending halfway (or an
     * HTTP/1.0 client waiting for the close that ends its answer) leaves it, reads until the server closes the
     * connection (30 s at most).
     */
    public static Answer stall(String host, int port, String request) {
        return exchange(host, port, request, false);
    }

    private static Answer exchange(String host, int port, String request, boolean endOutput) {
        try (Socket socket = new Socket(host, port)) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            if (endOutput) {
                socket.shutdownOutput();
            }
            String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int end = answer.indexOf("\r\n\r\n");
            if (!answer.startsWith("HTTP/1.") || end < 0) {
                throw new IllegalStateException("Not an HTTP/1.x answer: " + answer);
            }
            return new Answer(
                    Integer.parseInt(answer.substring(9, 12)), answer.substring(0, end), answer.substring(end + 4));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
