package io.github.resilientcheckpoints.store;

import java.io.InterruptedIOException;
import java.nio.channels.ClosedByInterruptException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * Safe reading of whatever a store threw. Classifiers and message builders see exceptions from
 * SDKs, proxies and user code: cause chains with cycles, {@code null} messages, even a {@code
 * getMessage()} that throws. Everything here terminates and never throws, whatever it is handed.
 */
public final class Causes {

    /** Longest chain walked: deeper ones are cut, never looped. */
    static final int MAX_DEPTH = 32;

    private Causes() {}

    /**
     * {@code failure} and its causes, outermost first: each exception once (a cycle ends the walk),
     * at most {@link #MAX_DEPTH} of them; empty for {@code null}.
     */
    public static List<Throwable> chain(Throwable failure) {
        if (failure == null) {
            return List.of();
        }
        List<Throwable> chain = new ArrayList<>(4);
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        Throwable t = failure;
        while (t != null && chain.size() < MAX_DEPTH && seen.add(t)) {
            chain.add(t);
            try {
                t = t.getCause();
            } catch (RuntimeException | LinkageError e) {
                t = null;
            }
        }
        return chain;
    }

    /** The message, or {@code ""} when it is null or reading it fails. */
    public static String message(Throwable t) {
        if (t == null) {
            return "";
        }
        try {
            String m = t.getMessage();
            return m == null ? "" : m;
        } catch (RuntimeException | LinkageError e) {
            return "";
        }
    }

    /**
     * Whether {@code failure} is a cancellation (an interrupt of the thread that ran the request),
     * not a store's verdict. {@link java.net.SocketTimeoutException} and Hadoop's {@code
     * ConnectTimeoutException} extend {@link InterruptedIOException} but are timeouts: the store
     * did not answer in time, which is worth a retry. Only the plain {@link
     * InterruptedIOException}, {@link InterruptedException}, {@link ClosedByInterruptException} and
     * the AWS SDK's {@code AbortedException} (matched by name: core has no SDK type) count.
     */
    public static boolean isInterrupt(Throwable failure) {
        for (Throwable t : chain(failure)) {
            if (t instanceof InterruptedException
                    || t instanceof ClosedByInterruptException
                    || t.getClass() == InterruptedIOException.class
                    || isNamed(t, "software.amazon.awssdk.core.exception.AbortedException")) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code t}'s class or one of its superclasses has this name. */
    public static boolean isNamed(Throwable t, String className) {
        for (Class<?> c = t.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            if (className.equals(c.getName())) {
                return true;
            }
        }
        return false;
    }
}
