package io.github.resilientcheckpoints.hdfs;

import java.io.IOException;

/** A checkpoint file clearly cannot fit under a directory's HDFS quota; raised before writing. */
public final class QuotaHeadroomException extends IOException {

    private static final long serialVersionUID = 1L;

    QuotaHeadroomException(String message) {
        super(message);
    }
}
