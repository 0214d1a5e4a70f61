package io.flatfare.testing.redis;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * Just enough of the Redis protocol (RESP2: simple strings, errors, integers, bulk strings) to tell whether a server is
 * up and to test one, without a client library.
 */
final class RespClient implements AutoCloseable {

    private final Socket socket;
    private final BufferedInputStream in;
    private final OutputStream out;

    RespClient(InetSocketAddress address, Duration timeout) throws IOException {
        socket = new Socket();
        try {
            socket.connect(address, (int) timeout.toMillis());
            socket.setSoTimeout((int) timeout.toMillis());
            in = new BufferedInputStream(socket.getInputStream());
            out = socket.getOutputStream();
        } catch (IOException e) {
            socket.close();
            throw e;
        }
    }

    /** Sends a command; returns the reply as a string, {@code null} for a nil reply. An error reply throws. */
    String call(String... args) throws IOException {
        ByteArrayOutputStream request = new ByteArrayOutputStream();
        request.writeBytes(("*" + args.length + "\r\n").getBytes(StandardCharsets.UTF_8));
        for (String arg : args) {
            byte[] bytes = arg.getBytes(StandardCharsets.UTF_8);
            request.writeBytes(("$" + bytes.length + "\r\n").getBytes(StandardCharsets.UTF_8));
            request.writeBytes(bytes);
            request.writeBytes("\r\n".getBytes(StandardCharsets.UTF_8));
        }
        out.write(request.toByteArray());
        out.flush();

        String line = readLine();
        return switch (line.isEmpty() ? ' ' : line.charAt(0)) {
            case '+', ':' -> line.substring(1);
            case '-' -> throw new IOException("Redis answered " + args[0] + " with " + line.substring(1));
            case '$' -> readBulk(Integer.parseInt(line.substring(1)));
            default -> throw new IOException("Unexpected reply to " + args[0] + ": " + line);
        };
    }

    private String readBulk(int length) throws IOException {
        if (length < 0) {
            return null;
        }
        byte[] bytes = in.readNBytes(length + 2); // the value and its CRLF
        if (bytes.length < length + 2) {
            throw new EOFException("Redis closed the connection mid-reply");
        }
        return new String(bytes, 0, length, StandardCharsets.UTF_8);
    }

    private String readLine() throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int previous = -1;
        while (true) {
            int current = in.read();
            if (current < 0) {
                throw new EOFException("Redis closed the connection");
            }
            if (previous == '\r' && current == '\n') {
                byte[] bytes = line.toByteArray();
                return new String(bytes, 0, bytes.length - 1, StandardCharsets.UTF_8);
            }
            line.write(current);
            previous = current;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
