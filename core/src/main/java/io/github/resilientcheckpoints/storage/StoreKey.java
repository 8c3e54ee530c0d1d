package io.github.resilientcheckpoints.storage;

import io.github.resilientcheckpoints.ResilientCheckpointOptions;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Which store a storage gets in a JVM: its checkpoint root and a SHA-256 digest of every setting a
 * store could read. On a session cluster one TaskManager serves jobs with different {@code s3.*}
 * (or any other) settings; a store, and the client and credentials inside it, is shared only by
 * jobs whose settings are equal. The digest keeps secrets out of the key, its {@code toString} and
 * heap dumps of the runtime's map.
 *
 * <p>Adapters may read any key, so the digest covers the whole configuration except keys known to
 * concern only the job (its name, class path, checkpoint interval...): leaving one of those in
 * costs a second client, leaving a store key out would hand one tenant another's identity.
 */
record StoreKey(URI root, String settingsDigest) {

    /** Prefixes of keys no store reads; two jobs differing only in these share a store. */
    static final List<String> JOB_ONLY_PREFIXES =
            List.of(
                    "pipeline.",
                    "$internal.",
                    "execution.state-recovery.",
                    "restart-strategy.",
                    "execution.runtime-mode",
                    "parallelism.default",
                    "state.backend.");

    private static final String CHECKPOINTING = "execution.checkpointing.";

    static StoreKey of(URI root, Map<String, String> config) {
        MessageDigest sha256;
        try {
            sha256 = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
        for (Map.Entry<String, String> e : new TreeMap<>(config).entrySet()) {
            if (concernsStores(e.getKey())) {
                update(sha256, e.getKey());
                update(sha256, e.getValue() == null ? "" : e.getValue());
            }
        }
        return new StoreKey(root, HexFormat.of().formatHex(sha256.digest()));
    }

    static boolean concernsStores(String key) {
        if (key.startsWith(CHECKPOINTING)) {
            // Flink's own checkpointing keys (interval, timeout, retention...) are the job's; ours
            // (fault drill, adapter tuning such as s3.part-size) may shape the store.
            return key.startsWith(ResilientCheckpointOptions.PREFIX);
        }
        for (String prefix : JOB_ONLY_PREFIXES) {
            if (key.startsWith(prefix)) {
                return false;
            }
        }
        return true;
    }

    /** Length-prefixed, so that no two different maps feed the digest the same bytes. */
    private static void update(MessageDigest digest, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        digest.update(
                new byte[] {
                    (byte) (bytes.length >>> 24),
                    (byte) (bytes.length >>> 16),
                    (byte) (bytes.length >>> 8),
                    (byte) bytes.length
                });
        digest.update(bytes);
    }

    @Override
    public String toString() {
        String shown =
                root.getRawUserInfo() == null
                        ? root.toString()
                        : root.toString().replace(root.getRawUserInfo() + "@", "******@");
        return "StoreKey{root="
                + shown
                + ", settings=sha256:"
                + settingsDigest.substring(0, 16)
                + "…}";
    }
}
