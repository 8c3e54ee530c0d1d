package io.github.resilientcheckpoints.upload;

import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** Failures as a future reports them. */
public final class Failures {

    private Failures() {}

    /**
     * What the task threw: the cause a future wrapped it in ({@link ExecutionException}, {@link
     * CompletionException}), or {@code failure} itself when it is not wrapped.
     */
    public static Throwable unwrap(Throwable failure) {
        if ((failure instanceof ExecutionException || failure instanceof CompletionException)
                && failure.getCause() != null) {
            return failure.getCause();
        }
        return failure;
    }
}
