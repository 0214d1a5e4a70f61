package io.flatfare.launcher;

import io.flatfare.testing.services.ServiceProcess;
import io.flatfare.testing.support.Processes;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Optional;

/**
 * What {@code flatfare up} has started, stopped in the reverse order: the services before the servers they use (the
 * gateway before Kafka, so its usage journal is flushed). Services started together are stopped together: each is
 * asked to stop (SIGTERM), given {@link #GRACE}, then killed.
 */
final class Parts {

    /** How long a service may take to stop gracefully before it is killed. */
    static final Duration GRACE = Duration.ofSeconds(15);

    /** Thrown into the start-up when a stop has begun meanwhile. */
    static final class Stopping extends RuntimeException {
        Stopping() {
            super("stopping", null, false, false);
        }
    }

    private final Deque<List<Part>> groups = new ArrayDeque<>();
    private boolean stopping;

    /** One thing started: a service process or a server. */
    sealed interface Part {
        String name();
    }

    record Service(String name, ServiceProcess process) implements Part {}

    record Server(String name, AutoCloseable server) implements Part {}

    /** Records parts just started; if a stop has begun, stops them at once and throws {@link Stopping}. */
    void add(Part... parts) {
        List<Part> group = List.of(parts);
        synchronized (this) {
            if (!stopping) {
                groups.push(group);
                return;
            }
        }
        stopGroup(group);
        throw new Stopping();
    }

    synchronized boolean stopping() {
        return stopping;
    }

    /** The first service that is no longer running, while no stop has begun. */
    synchronized Optional<Service> exitedService() {
        if (stopping) {
            return Optional.empty();
        }
        return groups.stream()
                .flatMap(List::stream)
                .filter(p -> p instanceof Service s && !s.process().isRunning())
                .map(Service.class::cast)
                .findFirst();
    }

    /** The process id of the service of that name, while it is recorded. */
    synchronized Optional<Long> pid(String name) {
        return groups.stream()
                .flatMap(List::stream)
                .filter(p -> p instanceof Service s && s.name().equals(name))
                .map(p -> ((Service) p).process().pid())
                .findFirst();
    }

    /** Stops everything, most recently started first; a second call finds nothing left to stop. */
    void stopAll() {
        while (true) {
            List<Part> group;
            synchronized (this) {
                stopping = true;
                group = groups.poll();
            }
            if (group == null) {
                return;
            }
            stopGroup(group);
        }
    }

    private static void stopGroup(List<Part> group) {
        for (Part part : group) {
            if (part instanceof Service service) {
                Progress.say("stopping " + service.name());
                service.process().terminate();
            }
        }
        long deadline = System.nanoTime() + GRACE.toNanos();
        for (Part part : group) {
            try {
                switch (part) {
                    case Service service -> {
                        ProcessHandle handle =
                                ProcessHandle.of(service.process().pid()).orElse(null);
                        Duration left = Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
                        if (handle != null && !Processes.awaitExit(handle, left)) {
                            Progress.say(service.name() + " did not stop within " + GRACE + ": killing it");
                            service.process().kill();
                        }
                        service.process().close();
                    }
                    case Server server -> {
                        Progress.say("stopping " + server.name());
                        server.server().close();
                    }
                }
            } catch (Exception e) {
                Progress.say("could not stop " + part.name() + " cleanly: " + e.getMessage());
            }
        }
    }
}
