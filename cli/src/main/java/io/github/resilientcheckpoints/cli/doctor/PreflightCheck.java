package io.github.resilientcheckpoints.cli.doctor;

import java.util.List;

/** One check of {@code doctor check}: its findings, each one line with the fix. */
interface PreflightCheck {

    List<Finding> run();
}
