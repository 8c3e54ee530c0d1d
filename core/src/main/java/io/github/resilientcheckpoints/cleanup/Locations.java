package io.github.resilientcheckpoints.cleanup;

import io.github.resilientcheckpoints.store.CheckpointStores;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.UnsupportedFileSystemSchemeException;

/**
 * The comparable identity of a location in a store. Cleanup compares what a listing returns, what a
 * {@code _metadata} references and what a user typed, and these spell one object differently:
 *
 * <ul>
 *   <li>S3 file systems use {@code s3://}, {@code s3a://} or {@code s3p://} for the same bucket and
 *       key: all fold to {@code s3://bucket/key}, the spellings a store provider lists ({@link
 *       CheckpointStores#spellingsOf});
 *   <li>{@code hdfs:///path} (no authority) means the default file system's name node: the
 *       authority is taken from the file system Flink resolves for it;
 *   <li>a path without a scheme is a local file; trailing slashes and {@code .}/{@code ..} segments
 *       are normalised away.
 * </ul>
 */
public final class Locations {

    private Locations() {}

    /**
     * {@code scheme://authority/path}, with the scheme folded to its canonical spelling ({@code
     * s3a} to {@code s3}) and the authority resolved.
     */
    public static String key(Path path) {
        URI uri = path.toUri().normalize();
        String scheme = uri.getScheme() == null ? "file" : uri.getScheme().toLowerCase(Locale.ROOT);
        scheme = CheckpointStores.spellingsOf(scheme).get(0);
        String authority = uri.getAuthority();
        if (authority == null && !scheme.equals("file")) {
            authority = defaultAuthority(uri);
        }
        String p = uri.getPath() == null ? "" : uri.getPath();
        while (p.length() > 1 && p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        return scheme + "://" + (authority == null ? "" : authority) + p;
    }

    /**
     * The path without trailing slashes ({@code Path.getParent()} of {@code a/b/} is {@code a/b}).
     */
    public static Path trimmed(Path path) {
        String s = path.toString();
        int end = s.length();
        while (end > 1
                && s.charAt(end - 1) == '/'
                && s.charAt(end - 2) != '/'
                && s.charAt(end - 2) != ':') {
            end--;
        }
        return end == s.length() ? path : new Path(s.substring(0, end));
    }

    /** True when {@code key} is {@code parentKey} itself or lies below it. */
    public static boolean isUnder(String key, String parentKey) {
        return key.equals(parentKey)
                || key.startsWith(parentKey.endsWith("/") ? parentKey : parentKey + "/");
    }

    /** The relative part of {@code key} below {@code parentKey}, split into segments. */
    static String[] relative(String key, String parentKey) {
        String prefix = parentKey.endsWith("/") ? parentKey : parentKey + "/";
        return key.substring(prefix.length()).split("/");
    }

    /**
     * Flink's file system for a path; for a scheme no file system is registered for (e.g. {@code
     * s3p://} with only flink-s3-fs-native installed), the file system of another spelling of it.
     */
    public static FileSystem fileSystem(Path path) throws IOException {
        URI uri = path.toUri();
        try {
            return FileSystem.get(uri);
        } catch (UnsupportedFileSystemSchemeException e) {
            String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
            for (String alias : CheckpointStores.spellingsOf(scheme)) {
                if (!alias.equals(scheme)) {
                    try {
                        return FileSystem.get(withScheme(uri, alias));
                    } catch (UnsupportedFileSystemSchemeException ignored) {
                        // try the next spelling
                    }
                }
            }
            throw e;
        }
    }

    /** The same path under the scheme {@link #fileSystem} resolved to (for opening it there). */
    public static Path onFileSystem(Path path, FileSystem fs) {
        URI uri = path.toUri();
        String fsScheme = fs.getUri() == null ? null : fs.getUri().getScheme();
        if (fsScheme == null
                || uri.getScheme() == null
                || fsScheme.equalsIgnoreCase(uri.getScheme())) {
            return path;
        }
        return new Path(withScheme(uri, fsScheme));
    }

    private static URI withScheme(URI uri, String scheme) {
        try {
            return new URI(
                    scheme, uri.getAuthority(), uri.getPath(), uri.getQuery(), uri.getFragment());
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(e);
        }
    }

    private static String defaultAuthority(URI uri) {
        try {
            URI fsUri = FileSystem.get(uri).getUri();
            return fsUri == null ? null : fsUri.getAuthority();
        } catch (IOException | RuntimeException e) {
            // Unknown scheme or file system not reachable: compare as given.
            return null;
        }
    }
}
