package io.github.resilientcheckpoints;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * Lines the code must not cross: core knows no store SDK, the mechanisms (upload, store, spill,
 * metrics, config) know nothing of the Flink-facing storage, and shipped code never uses test code.
 */
class ArchitectureTest {

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
}
