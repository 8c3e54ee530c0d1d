package io.github.resilientcheckpoints.cli.doctor;

/**
 * One line of a preflight report: what was checked, how it came out, and (unless OK) the fix.
 *
 * @param level OK, WARN or FAIL
 * @param check a short name of the check, e.g. {@code checkpoint-root}
 * @param message what was found, with the numbers or the path
 * @param fix what to change (a config key and value where there is one); empty for OK
 */
public record Finding(Level level, String check, String message, String fix) {

    /** How a check came out; FAIL makes the command exit non-zero. */
    public enum Level {
        OK,
        WARN,
        FAIL
    }

    public static Finding ok(String check, String message) {
        return new Finding(Level.OK, check, message, "");
    }

    public static Finding warn(String check, String message, String fix) {
        return new Finding(Level.WARN, check, message, fix);
    }

    public static Finding fail(String check, String message, String fix) {
        return new Finding(Level.FAIL, check, message, fix);
    }

    /** The report line: {@code LEVEL check: message -> fix}. */
    public String line() {
        return String.format(
                "%-4s %s: %s%s", level, check, message, fix.isEmpty() ? "" : " -> " + fix);
    }
}
