package io.flatfare.launcher;

/** Progress for people, on stderr, so that stdout carries only the lines scripts read. */
final class Progress {

    private Progress() {}

    static void say(String message) {
        System.err.println("flatfare: " + message);
    }
}
