package io.flatfare.testing.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A TCP forwarder in front of a real server, so a test can make that server vanish the way a crashed process
 * does (connections reset, new connections refused), or hang the way a frozen server or a lost network does
 * (connections stay open, nothing gets through), or lose only the connections open now (new ones work), and bring it
 * back on the same port. It listens on 127.0.0.1.
 */
public final class TcpProxy implements AutoCloseable {

    private final InetSocketAddress target;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private final Set<Link> links = ConcurrentHashMap.newKeySet();
    private final Object gate = new Object();
    private boolean stalled;
    private int port;
    private ServerSocket listener;

    private TcpProxy(InetSocketAddress target) {
        this.target = target;
    }

    /** A proxy to {@code 127.0.0.1:targetPort}, listening on a free port. */
    public static TcpProxy to(int targetPort) {
        return to("127.0.0.1", targetPort);
    }

    /** A proxy to {@code targetHost:targetPort}, listening on a free port. */
    public static TcpProxy to(String targetHost, int targetPort) {
        var proxy = new TcpProxy(new InetSocketAddress(targetHost, targetPort));
        proxy.up();
        return proxy;
    }

    public int port() {
        return port;
    }

    /** {@code 127.0.0.1:<port>}. */
    public String address() {
        return "127.0.0.1:" + port;
    }

    /** Listens again (on the same port after the first time). */
    public synchronized void up() {
        if (listener != null) {
            return;
        }
        try {
            var socket = new ServerSocket();
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress("127.0.0.1", port));
            port = socket.getLocalPort();
            listener = socket;
            Thread.ofVirtual().name("proxy-accept-" + port).start(() -> accept(socket));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Resets every open connection and refuses new ones, like a process killed with SIGKILL. */
    public synchronized void down() {
        if (listener == null) {
            return;
        }
        closeQuietly(listener);
        listener = null;
        for (Socket socket : sockets) {
            try {
                socket.setSoLinger(true, 0);
            } catch (IOException e) {
                // Already closed.
            }
            closeQuietly(socket);
        }
        sockets.clear();
        synchronized (gate) {
            // Held bytes go to closed sockets now, which ends their pumps.
            links.forEach(link -> link.held = false);
            gate.notifyAll();
        }
    }

    /**
     * Holds every byte in both directions, on open connections and new ones alike (they are accepted, then hear
     * nothing), like a server that froze or a network that drops packets: a client waits until its own timeout.
     */
    public void stall() {
        synchronized (gate) {
            stalled = true;
        }
    }

    /** Lets the held bytes through, in order, and everything after them. */
    public void resume() {
        synchronized (gate) {
            stalled = false;
            gate.notifyAll();
        }
    }

    /**
     * Holds every byte of the connections open now, for good, while new connections flow: like a network path that
     * died without a reset (a database host failed over, a NAT entry dropped). Neither bytes nor a close get
     * through: a side that closes its end leaves the other's open, so only each side's own timeout frees its end.
     * {@link #resume} does not; {@link #down} and {@link #close} reset them.
     */
    public void blackHoleOpenConnections() {
        synchronized (gate) {
            links.forEach(link -> link.held = true);
        }
    }

    @Override
    public void close() {
        resume();
        down();
    }

    private void awaitFlowing(Link link) throws InterruptedException {
        synchronized (gate) {
            while (stalled || link.held) {
                gate.wait();
            }
        }
    }

    /** One proxied connection. */
    private static final class Link {
        boolean held; // guarded by gate
    }

    private void accept(ServerSocket socket) {
        while (!socket.isClosed()) {
            Socket client;
            try {
                client = socket.accept();
            } catch (IOException e) {
                return; // closed by down()
            }
            try {
                Socket upstream = new Socket(target.getAddress(), target.getPort());
                synchronized (this) {
                    if (listener != socket) {
                        closeQuietly(upstream);
                        closeQuietly(client);
                        return;
                    }
                    sockets.add(client);
                    sockets.add(upstream);
                }
                Link link = new Link();
                links.add(link);
                Thread.ofVirtual().start(() -> pump(client, upstream, link));
                Thread.ofVirtual().start(() -> pump(upstream, client, link));
            } catch (IOException e) {
                closeQuietly(client);
            }
        }
    }

    private void pump(Socket from, Socket to, Link link) {
        byte[] buffer = new byte[16 * 1024];
        // Not in try-with-resources: closing a socket's stream closes the socket, which a black hole must not.
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            int read;
            while ((read = in.read(buffer)) >= 0) {
                awaitFlowing(link);
                out.write(buffer, 0, read);
                out.flush();
            }
        } catch (IOException e) {
            // One side went away; the other is closed below.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            closeQuietly(from);
            boolean held;
            synchronized (gate) {
                held = link.held;
            }
            if (held) {
                // A black hole carries no close either: the other side keeps its connection until down() or close().
                sockets.remove(from);
                return;
            }
            closeQuietly(to);
            sockets.remove(from);
            sockets.remove(to);
            links.remove(link);
        }
    }

    private static void closeQuietly(AutoCloseable closeable) {
        try {
            closeable.close();
        } catch (Exception e) {
            // Nothing to do: it is going away either way.
        }
    }
}
