package io.github.resilientcheckpoints.store;

/** How a failed store operation should be treated by the retry loop. */
public enum FailureClass {
    /**
     * The store asked us to slow down (S3 503 SlowDown, HTTP 429, HDFS server too busy): retry
     * later.
     */
    THROTTLED,
    /** A passing fault (connection reset, timeout, DataNode loss): retry. */
    TRANSIENT,
    /** Retrying cannot help (missing bucket, permission denied, bad credentials, invalid path). */
    PERMANENT;

    public boolean retryable() {
        return this != PERMANENT;
    }
}
