package io.github.resilientcheckpoints.cli.doctor;

import java.time.Duration;
import java.util.Locale;
import org.apache.flink.util.TimeUtils;

/** How the doctor prints durations and byte counts. */
final class Units {

    private Units() {}

    static String format(Duration d) {
        return TimeUtils.formatWithHighestUnit(d);
    }

    static String bytes(long n) {
        if (n == Long.MAX_VALUE) {
            return "unlimited";
        }
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = 0;
        while (Math.abs(v) >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? n + " B" : String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
