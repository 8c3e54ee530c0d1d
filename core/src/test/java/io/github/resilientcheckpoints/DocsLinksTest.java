package io.github.resilientcheckpoints;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every relative link in the README, in {@code docs/*.md} and in {@code jmh/README.md} points to a
 * file or directory of this repository, and every {@code #anchor} to a heading of the page it names
 * (GitHub's heading ids). The README stays a front door: under 300 lines, and it links every page
 * in {@code docs/}.
 */
class DocsLinksTest {

    /** {@code [text](target)} and {@code ![alt](target)}; the target ends at a space or ')'. */
    private static final Pattern INLINE_LINK =
            Pattern.compile("\\]\\(([^)\\s]+)(?:\\s+\"[^\"]*\")?\\)");

    /** Reference definitions: {@code [name]: target}. */
    private static final Pattern REFERENCE = Pattern.compile("^\\s{0,3}\\[[^\\]]+\\]:\\s+(\\S+)");

    private static final Pattern SCHEME = Pattern.compile("^[a-zA-Z][a-zA-Z0-9+.-]*:");

    private static final Pattern HEADING = Pattern.compile("^#{1,6}\\s+(.*?)\\s*#*\\s*$");

    @Test
    void everyRelativeLinkAndAnchorResolves() throws IOException {
        Path root = ConfigDocsTest.repositoryRoot();
        List<Path> pages = pages(root);
        assertThat(pages).as("pages checked").hasSizeGreaterThan(3);
        List<String> broken = new ArrayList<>();
        int checked = 0;
        for (Path page : pages) {
            for (String target : links(page)) {
                if (SCHEME.matcher(target).find()) {
                    continue; // https:, mailto: ...: not a file of this repository
                }
                checked++;
                String problem = problem(root, page, target);
                if (problem != null) {
                    broken.add(root.relativize(page) + ": (" + target + ") " + problem);
                }
            }
        }
        assertThat(checked).as("relative links found").isGreaterThan(20);
        assertThat(broken).as("broken relative links").isEmpty();
    }

    @Test
    void readmeIsShortAndLinksEveryDocsPage() throws IOException {
        Path root = ConfigDocsTest.repositoryRoot();
        Path readme = root.resolve("README.md");
        List<String> lines = Files.readAllLines(readme, StandardCharsets.UTF_8);
        assertThat(lines.size()).as("README.md lines").isLessThan(300);
        Set<Path> linked =
                links(readme).stream()
                        .filter(t -> !SCHEME.matcher(t).find())
                        .map(t -> t.contains("#") ? t.substring(0, t.indexOf('#')) : t)
                        .filter(t -> !t.isEmpty())
                        .map(t -> root.resolve(t).normalize())
                        .collect(Collectors.toSet());
        List<Path> docs;
        try (Stream<Path> s = Files.list(root.resolve("docs"))) {
            docs = s.filter(p -> p.toString().endsWith(".md")).sorted().toList();
        }
        assertThat(docs).isNotEmpty();
        for (Path doc : docs) {
            assertThat(linked)
                    .as("README links %s", root.relativize(doc))
                    .contains(doc.normalize());
        }
        assertThat(linked)
                .as("README links the benchmarks page")
                .contains(root.resolve("jmh/README.md").normalize());
    }

    @Test
    void anchorsFollowGitHubsHeadingIds() {
        assertThat(slugs(List.of("# Waits on Flink's threads")))
                .containsExactly("waits-on-flinks-threads");
        assertThat(slugs(List.of("## S3 adapter (`s3-storage`)")))
                .containsExactly("s3-adapter-s3-storage");
        assertThat(
                        slugs(
                                List.of(
                                        "## Refused at submission: a checkpoint root that takes no writes")))
                .containsExactly("refused-at-submission-a-checkpoint-root-that-takes-no-writes");
        assertThat(
                        slugs(
                                List.of(
                                        "## S3, side by side",
                                        "```",
                                        "# not a heading",
                                        "```",
                                        "## S3, side by side")))
                .containsExactly("s3-side-by-side", "s3-side-by-side-1");
    }

    private static List<Path> pages(Path root) throws IOException {
        List<Path> pages = new ArrayList<>();
        pages.add(root.resolve("README.md"));
        pages.add(root.resolve("jmh").resolve("README.md"));
        try (Stream<Path> s = Files.list(root.resolve("docs"))) {
            s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(pages::add);
        }
        for (Path page : pages) {
            assertThat(page).isRegularFile();
        }
        return pages;
    }

    /** Link targets outside fenced code blocks and inline code spans. */
    static List<String> links(Path page) throws IOException {
        List<String> targets = new ArrayList<>();
        boolean fenced = false;
        for (String line : Files.readAllLines(page, StandardCharsets.UTF_8)) {
            if (line.stripLeading().startsWith("```")) {
                fenced = !fenced;
                continue;
            }
            if (fenced) {
                continue;
            }
            String text = withoutCodeSpans(line);
            Matcher m = INLINE_LINK.matcher(text);
            while (m.find()) {
                targets.add(m.group(1));
            }
            Matcher r = REFERENCE.matcher(text);
            if (r.find()) {
                targets.add(r.group(1));
            }
        }
        return targets;
    }

    /** Why {@code target}, linked from {@code page}, does not resolve, or null when it does. */
    private static String problem(Path root, Path page, String target) throws IOException {
        int hash = target.indexOf('#');
        String file = hash < 0 ? target : target.substring(0, hash);
        String anchor = hash < 0 ? null : target.substring(hash + 1);
        Path resolved = file.isEmpty() ? page : page.getParent().resolve(file).normalize();
        if (!resolved.startsWith(root)) {
            return "points outside the repository";
        }
        if (!Files.exists(resolved)) {
            return "no such file: " + root.relativize(resolved);
        }
        if (anchor == null) {
            return null;
        }
        if (!resolved.toString().endsWith(".md") || !Files.isRegularFile(resolved)) {
            return "an anchor on a file that is not a Markdown page";
        }
        Set<String> ids = slugs(Files.readAllLines(resolved, StandardCharsets.UTF_8));
        return ids.contains(anchor)
                ? null
                : "no heading with id '" + anchor + "' in " + root.relativize(resolved) + " " + ids;
    }

    /** GitHub's heading ids of a page, in order: duplicates get -1, -2, ... */
    static Set<String> slugs(List<String> lines) {
        Set<String> ids = new LinkedHashSet<>();
        Map<String, Integer> seen = new HashMap<>();
        boolean fenced = false;
        for (String line : lines) {
            if (line.stripLeading().startsWith("```")) {
                fenced = !fenced;
                continue;
            }
            Matcher m = HEADING.matcher(line);
            if (fenced || !m.matches()) {
                continue;
            }
            String slug =
                    m.group(1)
                            .toLowerCase(Locale.ROOT)
                            .replaceAll("[^\\p{L}\\p{N}\\p{M}\\p{Pc} -]", "")
                            .replace(' ', '-');
            int n = seen.merge(slug, 1, Integer::sum);
            ids.add(n == 1 ? slug : slug + "-" + (n - 1));
        }
        return ids;
    }

    private static String withoutCodeSpans(String line) {
        return line.replaceAll("`[^`]*`", "``");
    }
}
