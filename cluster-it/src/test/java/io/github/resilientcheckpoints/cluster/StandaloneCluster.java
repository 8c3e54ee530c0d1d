package io.github.resilientcheckpoints.cluster;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A standalone Flink session cluster of separate processes, started the way Flink's scripts start
 * it: a JobManager ({@code StandaloneSessionClusterEntrypoint}) and TaskManagers ({@code
 * TaskManagerRunner} with the memory flags of {@code BashJavaUtils}, as {@code taskmanager.sh}
 * does), from {@code lib/} and {@code plugins/} directories and a {@code conf/config.yaml}.
 * Everything binds 127.0.0.1. Closing it kills every process it started.
 */
final class StandaloneCluster implements AutoCloseable {

    /** Flink's usual module opens on JDK 17. */
    private static final List<String> OPENS =
            Arrays.stream(
                            new String[] {
                                "java.lang",
                                "java.util",
                                "java.io",
                                "java.nio",
                                "sun.nio.ch",
                                "java.lang.reflect",
                                "java.text",
                                "java.time",
                                "java.util.concurrent",
                                "java.util.concurrent.atomic",
                                "java.net"
                            })
                    .map(p -> "--add-opens=java.base/" + p + "=ALL-UNNAMED")
                    .toList();

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path home;
    private final Path lib;
    private final Path plugins;
    private final Path conf;
    private final Path logs;
    private final int restPort;
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final List<Process> processes = new ArrayList<>();
    private final Map<String, Process> taskManagers = new LinkedHashMap<>();
    private Process jobManager;
    private int jobManagersStarted;
    private int taskManagersStarted;

    /**
     * @param distribution a directory with {@code lib/} and {@code plugins/} (copied by the build)
     * @param home where conf/ goes
     * @param logs where the processes' logs go (kept after the test, for a failure's diagnosis)
     * @param settings the cluster's config.yaml entries beyond addresses and memory
     */
    StandaloneCluster(Path distribution, Path home, Path logs, Map<String, String> settings)
            throws IOException {
        this.home = home;
        this.lib = distribution.resolve("lib");
        this.plugins = distribution.resolve("plugins");
        this.conf = Files.createDirectories(home.resolve("conf"));
        this.logs = Files.createDirectories(logs);
        this.restPort = freePort();
        Map<String, String> config = new LinkedHashMap<>();
        config.put("jobmanager.rpc.address", "127.0.0.1");
        config.put("jobmanager.rpc.port", Integer.toString(freePort()));
        config.put("jobmanager.bind-host", "127.0.0.1");
        config.put("taskmanager.bind-host", "127.0.0.1");
        config.put("taskmanager.host", "127.0.0.1");
        config.put("rest.address", "127.0.0.1");
        config.put("rest.bind-address", "127.0.0.1");
        config.put("rest.port", Integer.toString(restPort));
        config.put("jobmanager.memory.process.size", "768m");
        config.put("taskmanager.memory.process.size", "1280m");
        config.put("taskmanager.memory.managed.size", "64m");
        config.put("taskmanager.numberOfTaskSlots", "2");
        // A killed TaskManager is noticed in seconds, not after the default 50 s.
        config.put("heartbeat.interval", "1000");
        config.put("heartbeat.timeout", "8000");
        config.put("metrics.fetcher.update-interval", "500");
        config.putAll(settings);
        StringBuilder yaml = new StringBuilder();
        config.forEach((k, v) -> yaml.append(k).append(": ").append(v).append('\n'));
        Files.writeString(conf.resolve("config.yaml"), yaml.toString());
        Files.writeString(
                conf.resolve("log4j.properties"),
                String.join(
                        "\n",
                        "rootLogger.level = INFO",
                        "rootLogger.appenderRef.file.ref = MainAppender",
                        "appender.main.name = MainAppender",
                        "appender.main.type = File",
                        "appender.main.fileName = ${sys:log.file}",
                        "appender.main.layout.type = PatternLayout",
                        "appender.main.layout.pattern = %d{HH:mm:ss,SSS} %-5p %-40c{1} %m%n",
                        ""));
    }

    URI rest() {
        return URI.create("http://127.0.0.1:" + restPort);
    }

    Path logs() {
        return logs;
    }

    /**
     * Starts a JobManager process and waits until its REST endpoint answers. With high
     * availability, a further one (after the last was killed) is a new leader that recovers the
     * jobs.
     */
    void startJobManager() throws Exception {
        if (jobManager != null && jobManager.isAlive()) {
            throw new IllegalStateException("a JobManager is running");
        }
        String name = "jobmanager-" + (++jobManagersStarted);
        List<String> command = java(name, "-Xmx512m");
        command.add("org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint");
        command.add("--configDir");
        command.add(conf.toString());
        jobManager = start(command, name);
        await(
                Duration.ofSeconds(90),
                "the JobManager's REST endpoint",
                () -> get("/overview") != null);
    }

    /** The JobManager process started last. */
    Process jobManager() {
        return jobManager;
    }

    /** Starts one more TaskManager and waits until the JobManager has at least {@code expected}. */
    Process startTaskManager(int expected) throws Exception {
        String name = "taskmanager-" + (++taskManagersStarted);
        List<String> memory = bashJavaUtils("GET_TM_RESOURCE_PARAMS");
        List<String> command = java(name, memory.get(0).trim().split("\\s+"));
        command.add("org.apache.flink.runtime.taskexecutor.TaskManagerRunner");
        command.add("--configDir");
        command.add(conf.toString());
        command.addAll(Arrays.asList(memory.get(1).trim().split("\\s+")));
        // Its name in the REST API (taskmanager-id), so a test can tell which process runs a task.
        command.add("-D");
        command.add("taskmanager.resource-id=" + name);
        Process tm = start(command, name);
        taskManagers.put(name, tm);
        await(
                Duration.ofSeconds(90),
                expected + " TaskManagers registered",
                () -> {
                    JsonNode tms = get("/taskmanagers");
                    return tms != null && tms.path("taskmanagers").size() >= expected;
                });
        return tm;
    }

    /** The TaskManager process with this resource id (the REST API's {@code taskmanager-id}). */
    Process taskManager(String resourceId) {
        Process p = taskManagers.get(resourceId);
        if (p == null) {
            throw new AssertionError(
                    "no TaskManager " + resourceId + " among " + taskManagers.keySet());
        }
        return p;
    }

    /** {@code kill -9}: no shutdown hook runs, nothing is cleaned up by the process itself. */
    static void kill9(Process process) throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("process " + process.pid() + " did not die");
        }
    }

    /** The JSON at this REST path, or null when the endpoint does not answer 200 (yet). */
    JsonNode get(String path) {
        try {
            HttpResponse<String> response =
                    http.send(
                            HttpRequest.newBuilder(rest().resolve(path))
                                    .timeout(Duration.ofSeconds(10))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            return response.statusCode() == 200 ? JSON.readTree(response.body()) : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Polls {@code condition} until it holds; fails naming {@code what} and the logs' location. */
    void await(Duration timeout, String what, BooleanSupplier condition)
            throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            if (condition.getAsBoolean()) {
                return;
            }
            if (jobManager != null && !jobManager.isAlive()) {
                throw new AssertionError(
                        "the JobManager died (exit code "
                                + jobManager.exitValue()
                                + ") before "
                                + what
                                + "; see "
                                + logs);
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no " + what + " within " + timeout + "; see the logs in " + logs);
    }

    private List<String> bashJavaUtils(String command) throws Exception {
        List<String> cmd = java("bash-java-utils", "-Xmx128m");
        cmd.add("org.apache.flink.runtime.util.bash.BashJavaUtils");
        cmd.add(command);
        cmd.add("--configDir");
        cmd.add(conf.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("BashJavaUtils failed: " + out);
        }
        List<String> lines = out.lines().toList();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith("BASH_JAVA_UTILS_EXEC_RESULT:")) {
                List<String> result = new ArrayList<>();
                result.add(lines.get(i).substring("BASH_JAVA_UTILS_EXEC_RESULT:".length()));
                result.add(lines.get(i + 1).replace("BASH_JAVA_UTILS_EXEC_RESULT:", ""));
                return result;
            }
        }
        throw new IllegalStateException("no BASH_JAVA_UTILS_EXEC_RESULT in: " + out);
    }

    private List<String> java(String logName, String... jvmFlags) {
        List<String> command = new ArrayList<>();
        command.add(
                System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
        command.addAll(Arrays.asList(jvmFlags));
        command.addAll(OPENS);
        command.add("-Daws.ec2MetadataDisabled=true");
        // Flink's own temporary files (io, shuffle, blobs, web, the RPC jar) go under the test's
        // directory: a process killed with kill -9 cannot delete them on exit.
        command.add("-Djava.io.tmpdir=" + processTmp(logName));
        command.add("-Dlog.file=" + logs.resolve(logName + ".log"));
        command.add("-Dlog4j.configurationFile=" + conf.resolve("log4j.properties").toUri());
        command.add("-cp");
        command.add(lib.toAbsolutePath() + File.separator + "*");
        return command;
    }

    private Path processTmp(String name) {
        try {
            return Files.createDirectories(home.resolve("tmp").resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private Process start(List<String> command, String name) throws IOException {
        ProcessBuilder builder =
                new ProcessBuilder(command)
                        .directory(home.toFile())
                        .redirectErrorStream(true)
                        .redirectOutput(logs.resolve(name + ".out").toFile());
        builder.environment().put("FLINK_PLUGINS_DIR", plugins.toAbsolutePath().toString());
        builder.environment().put("FLINK_CONF_DIR", conf.toString());
        builder.environment().put("AWS_EC2_METADATA_DISABLED", "true");
        Process p = builder.start();
        processes.add(p);
        return p;
    }

    /**
     * The last {@code lines} lines of every process's log and output, for a failure's diagnosis.
     */
    String logTails(int lines) {
        StringBuilder all = new StringBuilder();
        try (var files = Files.list(logs)) {
            for (Path f : files.sorted().toList()) {
                all.append(tail(f, lines));
            }
        } catch (IOException e) {
            all.append("(could not list ").append(logs).append(": ").append(e).append(")\n");
        }
        return all.toString();
    }

    /**
     * The ERROR lines of every JobManager's log with the messages of their exceptions (the first
     * line and the {@code Caused by:} lines, without the frames), each message once (a REST handler
     * may log the same one for every poll), at most {@code max} lines per log.
     */
    String jobManagerErrors(int max) {
        StringBuilder all = new StringBuilder();
        for (int i = 1; i <= jobManagersStarted; i++) {
            Path file = logs.resolve("jobmanager-" + i + ".log");
            all.append("----- errors in ").append(file).append('\n');
            try {
                Set<String> seen = new HashSet<>();
                boolean afterError = false;
                int n = 0;
                for (String line :
                        new String(Files.readAllBytes(file), StandardCharsets.UTF_8)
                                .lines()
                                .toList()) {
                    boolean error = line.contains(" ERROR ");
                    boolean message =
                            error
                                    || line.startsWith("Caused by:")
                                    || (afterError && !line.startsWith("\t"));
                    afterError = error;
                    // Each message once, whatever its time stamp.
                    if (message
                            && seen.add(error && line.length() > 13 ? line.substring(13) : line)
                            && n++ < max) {
                        all.append(line).append('\n');
                    }
                }
            } catch (IOException e) {
                all.append("(unreadable: ").append(e).append(")\n");
            }
        }
        return all.toString();
    }

    /** The last {@code lines} lines of {@code file}, under a header naming it. */
    static String tail(Path file, int lines) {
        StringBuilder out = new StringBuilder("----- last " + lines + " lines of " + file + "\n");
        try {
            // Lenient about bytes that are not UTF-8: a log is read whatever it holds.
            List<String> all =
                    new String(Files.readAllBytes(file), StandardCharsets.UTF_8).lines().toList();
            for (String line : all.subList(Math.max(0, all.size() - lines), all.size())) {
                out.append(line).append('\n');
            }
        } catch (IOException e) {
            out.append("(unreadable: ").append(e).append(")\n");
        }
        return out.toString();
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() throws InterruptedException {
        for (Process p : processes) {
            p.destroyForcibly();
        }
        for (Process p : processes) {
            p.waitFor(30, TimeUnit.SECONDS);
        }
    }
}
