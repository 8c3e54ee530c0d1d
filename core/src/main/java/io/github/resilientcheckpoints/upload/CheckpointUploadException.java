package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.store.FailureClass;
import java.io.IOException;

/** The upload of one state file failed for good; the message says why and what to do. */
public final class CheckpointUploadException extends IOException {

    private static final long serialVersionUID = 1L;

    private final FailureClass failureClass;
    private final RetryPolicy.GiveUpReason reason;
    private final int attempts;

    public CheckpointUploadException(
            String message,
            FailureClass failureClass,
            RetryPolicy.GiveUpReason reason,
            int attempts,
            Throwable cause) {
        super(message, cause);
        this.failureClass = failureClass;
        this.reason = reason;
        this.attempts = attempts;
    }

    /** Class of the last failure. */
    public FailureClass failureClass() {
        return failureClass;
    }

    public RetryPolicy.GiveUpReason reason() {
        return reason;
    }

    public int attempts() {
        return attempts;
    }
}
