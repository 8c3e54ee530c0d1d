package io.github.resilientcheckpoints;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.FallbackKey;
import org.junit.jupiter.api.Test;

/**
 * Every key of ours that a message names exists, and messages take it from the option's {@code
 * key()} rather than spelling it.
 *
 * <p>The rule: in the string literals of the main sources of core, s3-storage, hdfs-storage and
 * cli, a <em>key reference</em> is a token that starts with {@code
 * execution.checkpointing.resilient.} or with one of our key families followed by a dot ({@code
 * retry.}, {@code spill.}, {@code s3.}, … — the first segment of every key of ours, the prefix left
 * out), made of lower-case letters, digits, {@code -} and {@code .} ({@code .*} ends a wildcard). A
 * reference
 *
 * <ul>
 *   <li>names an option: a key or fallback key, or one without {@link
 *       ResilientCheckpointOptions#PREFIX} (descriptions say {@code 'spill.floor'}); a wildcard
 *       matches at least one key;
 *   <li>appears only in a class that declares options ({@code ConfigOptions.key(}): anywhere else a
 *       message builds the key from the option ({@code SPILL_FLOOR.key()}), so it cannot drift.
 * </ul>
 *
 * <p>Keys come from {@link ResilientCheckpointOptions} by reflection, and from the adapters' option
 * classes (not on core's class path) by reading their {@code ConfigOptions.key(...)} and {@code
 * withFallbackKeys(...)} calls.
 */
class ConfigKeysInMessagesTest {

    private static final List<String> MODULES =
            List.of("core", "s3-storage", "hdfs-storage", "cli");

    private static final List<String> SOURCE_DIRS =
            List.of("src/main/java", "src/flink1/java", "src/flink2/java");

    /**
     * References in files whose owners are changing them in parallel: {@code path|token}. Each
     * entry still has to be built from the option's {@code key()}; remove it when its file is fixed
     * (the test fails while a listed reference is gone, so the list only shrinks).
     */
    private static final Set<String> PENDING = Set.of();

    private static final String PREFIX = ResilientCheckpointOptions.PREFIX;

    private static final Pattern KEY_CALL =
            Pattern.compile(
                    "ConfigOptions\\.key\\(\\s*(?:(?:ResilientCheckpointOptions\\.)?PREFIX\\s*\\+\\s*)?"
                            + "\"([^\"]+)\"\\s*\\)");

    private static final Pattern ANY_KEY_CALL = Pattern.compile("ConfigOptions\\.key\\(");

    private static final Pattern FALLBACK_CALL =
            Pattern.compile("with(?:Fallback|Deprecated)Keys\\(([^)]*)\\)");

    private static final Pattern QUOTED = Pattern.compile("\"([^\"]*)\"");

    private final Path root = ConfigDocsTest.repositoryRoot();

    @Test
    void everyKeyNamedInAMessageExistsAndComesFromItsOption() throws IOException {
        Set<String> keys = keys();
        Pattern reference = referencePattern(keys);
        List<String> offenders = new ArrayList<>();
        Set<String> pendingSeen = new TreeSet<>();
        for (Path file : sources()) {
            String source = Files.readString(file, StandardCharsets.UTF_8);
            String path = root.relativize(file).toString().replace('\\', '/');
            boolean declaresOptions = ANY_KEY_CALL.matcher(source).find();
            for (Literal literal : literals(source)) {
                Matcher m = reference.matcher(literal.text);
                while (m.find()) {
                    String token = m.group().replaceAll("\\.+$", "");
                    String where = path + ":" + literal.line + ": \"" + token + "\" ";
                    if (!exists(token, keys)) {
                        offenders.add(where + "names no option");
                    } else if (!declaresOptions) {
                        if (PENDING.contains(path + "|" + token)) {
                            pendingSeen.add(path + "|" + token);
                        } else {
                            offenders.add(
                                    where + "is spelled out: build it from the option's key()");
                        }
                    }
                }
            }
        }
        assertThat(offenders)
                .as(
                        "key references in messages (rule in %s's Javadoc)",
                        ConfigKeysInMessagesTest.class.getSimpleName())
                .isEmpty();
        assertThat(new TreeSet<>(PENDING))
                .as("PENDING entries whose reference is gone: remove them")
                .isEqualTo(pendingSeen);
    }

    @Test
    void theScanSeesTheKeysOfEveryOptionClass() throws IOException {
        Set<String> keys = keys();
        assertThat(keys)
                .contains(
                        ResilientCheckpointOptions.SPILL_FLOOR.key(),
                        "s3.endpoint",
                        "s3.access.key",
                        PREFIX + "s3.part-size",
                        PREFIX + "hdfs.replication");
        assertThat(exists("spill.floor", keys)).isTrue();
        assertThat(exists(PREFIX + "fault-injection.*", keys)).isTrue();
        assertThat(exists("retry.max-attempt", keys)).isFalse();
        assertThat(exists(PREFIX + "spill", keys)).isFalse();
        Matcher m =
                referencePattern(keys)
                        .matcher("set 'spill.floor' or s3.part-size; not s3.amazonaws / x.spill.y");
        List<String> found = new ArrayList<>();
        while (m.find()) {
            found.add(m.group());
        }
        assertThat(found).containsExactly("spill.floor", "s3.part-size", "s3.amazonaws");
    }

    @Test
    void literalsAreReadLikeJava() {
        List<Literal> literals =
                literals(
                        "// \"not.this\"\n"
                                + "/* \"nor.this\" */ char q = '\"';\n"
                                + "String a = \"one \\\"two\\\" three\";\n"
                                + "String b = \"\"\"\n    block\n    \"\"\";\n"
                                + "String c = \"last\";");
        assertThat(literals)
                .extracting(l -> l.line + ":" + l.text)
                .containsExactly("3:one \\\"two\\\" three", "4:\n    block\n    ", "7:last");
    }

    /** A key exists, once with and once without the prefix; a wildcard matches some key. */
    private static boolean exists(String token, Set<String> keys) {
        if (token.endsWith(".*")) {
            String start = token.substring(0, token.length() - 1);
            return keys.stream().anyMatch(k -> k.startsWith(start) || k.startsWith(PREFIX + start));
        }
        return keys.contains(token) || keys.contains(PREFIX + token);
    }

    /** The full prefix, or a family of ours (first segment of a key, prefix left out) and a dot. */
    private static Pattern referencePattern(Set<String> keys) {
        Set<String> families = new TreeSet<>();
        for (String key : keys) {
            String shortKey = key.startsWith(PREFIX) ? key.substring(PREFIX.length()) : key;
            if (shortKey.contains(".")) {
                families.add(shortKey.substring(0, shortKey.indexOf('.')));
            }
        }
        String starts =
                Stream.concat(
                                Stream.of(PREFIX.substring(0, PREFIX.length() - 1)),
                                families.stream())
                        .map(Pattern::quote)
                        .collect(Collectors.joining("|"));
        // Not inside a longer word, path or class name: x.spill.y, /spill.d, my-s3.bucket.
        return Pattern.compile("(?<![A-Za-z0-9._/-])(?:" + starts + ")(?:\\.[a-z0-9*][a-z0-9-]*)+");
    }

    /** Keys and fallback keys of every option of ours. */
    private Set<String> keys() throws IOException {
        Set<String> keys = new TreeSet<>();
        for (Field field : ResilientCheckpointOptions.class.getFields()) {
            if (Modifier.isStatic(field.getModifiers())
                    && ConfigOption.class.isAssignableFrom(field.getType())) {
                ConfigOption<?> option;
                try {
                    option = (ConfigOption<?>) field.get(null);
                } catch (IllegalAccessException e) {
                    throw new AssertionError(e);
                }
                keys.add(option.key());
                for (FallbackKey fallback : option.fallbackKeys()) {
                    keys.add(fallback.getKey());
                }
            }
        }
        Path reflected =
                root.resolve(
                        "core/src/main/java/io/github/resilientcheckpoints/ResilientCheckpointOptions.java");
        for (Path file : sources()) {
            if (file.equals(reflected)) {
                continue;
            }
            String source = Files.readString(file, StandardCharsets.UTF_8);
            int calls = count(ANY_KEY_CALL.matcher(source));
            if (calls == 0) {
                continue;
            }
            Matcher key = KEY_CALL.matcher(source);
            int read = 0;
            while (key.find()) {
                String literal = key.group(1);
                keys.add(key.group().contains("PREFIX") ? PREFIX + literal : literal);
                read++;
            }
            assertThat(read)
                    .as("ConfigOptions.key(...) calls this test can read in %s", file)
                    .isEqualTo(calls);
            Matcher fallbacks = FALLBACK_CALL.matcher(source);
            while (fallbacks.find()) {
                Matcher quoted = QUOTED.matcher(fallbacks.group(1));
                while (quoted.find()) {
                    keys.add(quoted.group(1));
                }
            }
        }
        return keys;
    }

    private static int count(Matcher m) {
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    private List<Path> sources() throws IOException {
        List<Path> files = new ArrayList<>();
        for (String module : MODULES) {
            for (String dir : SOURCE_DIRS) {
                Path sources = root.resolve(module).resolve(dir);
                if (!Files.isDirectory(sources)) {
                    continue;
                }
                try (Stream<Path> walk = Files.walk(sources)) {
                    walk.filter(p -> p.toString().endsWith(".java")).sorted().forEach(files::add);
                }
            }
        }
        assertThat(files).as("main sources under %s", root).isNotEmpty();
        return files;
    }

    /** A string literal (escapes left as written) and the line it starts on. */
    private record Literal(int line, String text) {}

    /** The string literals and text blocks of a Java source; comments and chars are skipped. */
    private static List<Literal> literals(String source) {
        List<Literal> literals = new ArrayList<>();
        int line = 1;
        int i = 0;
        int n = source.length();
        while (i < n) {
            char c = source.charAt(i);
            if (c == '\n') {
                line++;
                i++;
            } else if (source.startsWith("//", i)) {
                int end = source.indexOf('\n', i);
                i = end < 0 ? n : end;
            } else if (source.startsWith("/*", i)) {
                int end = source.indexOf("*/", i + 2);
                line += newlines(source, i, end);
                i = end + 2;
            } else if (source.startsWith("\"\"\"", i)) {
                int end = source.indexOf("\"\"\"", i + 3);
                literals.add(new Literal(line, source.substring(i + 3, end)));
                line += newlines(source, i, end);
                i = end + 3;
            } else if (c == '"' || c == '\'') {
                int end = i + 1;
                while (source.charAt(end) != c) {
                    end += source.charAt(end) == '\\' ? 2 : 1;
                }
                if (c == '"') {
                    literals.add(new Literal(line, source.substring(i + 1, end)));
                }
                i = end + 1;
            } else {
                i++;
            }
        }
        return literals;
    }

    private static int newlines(String s, int from, int to) {
        int n = 0;
        for (int i = from; i < to; i++) {
            if (s.charAt(i) == '\n') {
                n++;
            }
        }
        return n;
    }
}
