package io.flatfare.gateway.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * A TCP link to a server on this machine that delivers what is sent each way {@code delay} later, as a network
 * between two hosts would: for the benchmark, a Redis reached over a network instead of the loopback. Two platform
 * threads per connection, each reading what arrived, waiting until it is due and writing it on.
 */
final class DelayedLink implements AutoCloseable {

    private final ServerSocket listener;
    private final String targetHost;
    private final int targetPort;
    private final long delayNanos;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();

    /** In front of {@code target} ({@code scheme://host:port}), each way {@code delayMicros} µs. */
    DelayedLink(String target, long delayMicros) throws IOException {
        URI uri = URI.create(target);
        this.targetHost = uri.getHost();
        this.targetPort = uri.getPort();
        this.delayNanos = TimeUnit.MICROSECONDS.toNanos(delayMicros);
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread.ofPlatform().daemon().name("delayed-link-accept").start(this::accept);
    }

    /** The URL to reach the target through the link, with the target's scheme. */
    String url(String target) {
        return URI.create(target).getScheme() + "://127.0.0.1:" + listener.getLocalPort();
    }

    private void accept() {
        while (!listener.isClosed()) {
            try {
                Socket client = listener.accept();
                Socket server = new Socket(targetHost, targetPort);
                client.setTcpNoDelay(true);
                server.setTcpNoDelay(true);
                sockets.add(client);
                sockets.add(server);
                Thread.ofPlatform().daemon().name("delayed-link-up").start(() -> pump(client, server));
                Thread.ofPlatform().daemon().name("delayed-link-down").start(() -> pump(server, client));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void pump(Socket from, Socket to) {
        byte[] buffer = new byte[64 * 1024];
        try (InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream()) {
            for (int read = in.read(buffer); read >= 0; read = in.read(buffer)) {
                long due = System.nanoTime() + delayNanos;
                for (long left = delayNanos; left > 0; left = due - System.nanoTime()) {
                    LockSupport.parkNanos(left);
                }
                out.write(buffer, 0, read);
                out.flush();
            }
        } catch (IOException closed) {
            // The other side went away: the link ends with it.
        } finally {
            close(from);
            close(to);
        }
    }

    private static void close(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // Closing anyway.
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        sockets.forEach(DelayedLink::close);
    }
}
