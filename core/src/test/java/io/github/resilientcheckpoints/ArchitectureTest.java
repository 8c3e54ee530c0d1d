package io.github.resilientcheckpoints;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.library.dependencies.SliceAssignment;
import com.tngtech.archunit.library.dependencies.SliceIdentifier;
import org.junit.jupiter.api.Test;

/**
 * Lines the code must not cross: core knows no store SDK, the mechanisms (upload, store, spill,
 * metrics, config) know nothing of the Flink-facing storage, shipped code never uses test code, and
 * no two packages depend on each other.
 */
class ArchitectureTest {

    private static final String ROOT = "io.github.resilientcheckpoints";

    /**
     * One slice per package directly under {@link #ROOT} (its subpackages included), and one for
     * {@link #ROOT} itself: the options class there must not lean on a component that reads it.
     */
    private static final SliceAssignment TOP_LEVEL_PACKAGES =
            new SliceAssignment() {
                @Override
                public SliceIdentifier getIdentifierOf(JavaClass javaClass) {
                    String name = javaClass.getPackageName();
                    if (name.equals(ROOT)) {
                        return SliceIdentifier.of("(root)");
                    }
                    if (!name.startsWith(ROOT + ".")) {
                        return SliceIdentifier.ignore();
                    }
                    return SliceIdentifier.of(name.substring(ROOT.length() + 1).split("\\.")[0]);
                }

                @Override
                public String getDescription() {
                    return "the packages of " + ROOT + " and its top-level subpackages";
                }
            };

    private final JavaClasses core =
            new ClassFileImporter()
                    .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                    .importPackages("io.github.resilientcheckpoints");

    @Test
    void coreImportsNoStoreSdk() {
        noClasses()
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("software.amazon..", "com.amazonaws..", "org.apache.hadoop..")
                .check(core);
    }

    @Test
    void mechanismsDoNotDependOnTheFlinkFacingStorage() {
        noClasses()
                .that()
                .resideInAnyPackage("..upload..", "..store..", "..spill..", "..metrics..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage("io.github.resilientcheckpoints.storage..")
                .check(core);
    }

    @Test
    void shippedCodeUsesNoTestCode() {
        noClasses()
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("..testing..", "org.junit..", "org.assertj..", "org.mockito..")
                .check(core);
    }

    @Test
    void configurationReadingDependsOnNoComponent() {
        noClasses()
                .that()
                .resideInAPackage("..config..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(
                        "..upload..",
                        "..store..",
                        "..spill..",
                        "..cleanup..",
                        "..storage..",
                        "..metrics..")
                .check(core);
    }

    @Test
    void packagesAreFreeOfCycles() {
        slices().assignedFrom(TOP_LEVEL_PACKAGES).should().beFreeOfCycles().check(core);
    }
}
