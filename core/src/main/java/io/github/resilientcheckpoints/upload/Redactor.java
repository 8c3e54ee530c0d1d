package io.github.resilientcheckpoints.upload;

import io.github.resilientcheckpoints.store.Causes;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.configuration.ReadableConfig;

/**
 * Removes credentials from text before it reaches a log line or an exception message: the user-info
 * part of URIs ({@code s3://KEY:SECRET@bucket}) and the values of every configuration key Flink
 * itself treats as sensitive ({@link GlobalConfiguration#isSensitive}).
 */
public final class Redactor implements Serializable {

    private static final long serialVersionUID = 1L;

    private static final Pattern USER_INFO =
            Pattern.compile("([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\\s]+@");

    public static final Redactor NONE = new Redactor(List.of());

    // Kept only to be found and masked; never printed (toString says how many there are).
    private final List<String> secrets;

    private Redactor(List<String> secrets) {
        this.secrets = List.copyOf(secrets);
    }

    public static Redactor fromConfig(ReadableConfig config) {
        List<String> secrets = new ArrayList<>();
        if (config instanceof Configuration) {
            for (Map.Entry<String, String> e : ((Configuration) config).toMap().entrySet()) {
                // Short values would mask innocent text; no real secret is that short.
                if (isSensitive(e.getKey()) && e.getValue() != null && e.getValue().length() >= 4) {
                    secrets.add(e.getValue());
                }
            }
        }
        return new Redactor(secrets);
    }

    /**
     * Flink's sensitive keys, plus access key ids, which Flink does not mask but are credentials.
     */
    static boolean isSensitive(String key) {
        String k = key.toLowerCase(Locale.ROOT);
        return GlobalConfiguration.isSensitive(key)
                || k.contains("access-key")
                || k.contains("access.key")
                || k.contains("accesskey");
    }

    public String redact(String text) {
        if (text == null) {
            return null;
        }
        String out = text;
        for (String secret : secrets) {
            out = out.replace(secret, "******");
        }
        return USER_INFO.matcher(out).replaceAll("$1***@");
    }

    /** {@code Class: message} of a failure and its causes, redacted, for one log or error line. */
    public String describe(Throwable failure) {
        if (failure == null) {
            return "(no failure)";
        }
        StringBuilder sb = new StringBuilder();
        int depth = 0;
        for (Throwable t : Causes.chain(failure)) {
            if (depth++ == 4) {
                break;
            }
            if (sb.length() > 0) {
                sb.append(" <- ");
            }
            sb.append(t.getClass().getSimpleName());
            String message = Causes.message(t);
            if (!message.isEmpty()) {
                sb.append(": ").append(message);
            }
        }
        return redact(sb.toString());
    }

    @Override
    public String toString() {
        return "Redactor{" + secrets.size() + " secret values}";
    }
}
