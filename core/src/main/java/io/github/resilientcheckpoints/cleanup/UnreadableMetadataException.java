package io.github.resilientcheckpoints.cleanup;

import java.io.IOException;

/** A {@code _metadata} could not be read completely; the sweep of its job stops. */
public final class UnreadableMetadataException extends IOException {

    private static final long serialVersionUID = 1L;

    public UnreadableMetadataException(String message, Throwable cause) {
        super(message, cause);
    }
}
