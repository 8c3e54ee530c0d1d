package io.github.resilientcheckpoints;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

/** Lines the code must not cross; see ../shared/STYLE.md. */
class ArchitectureTest {

    private final JavaClasses core = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.github.resilientcheckpoints");

    @Test
    void coreImportsNoStoreSdk() {
        noClasses().should().dependOnClassesThat()
                .resideInAnyPackage("software.amazon..", "com.amazonaws..", "org.apache.hadoop..")
                .check(core);
    }

    @Test
    void mechanismsDoNotDependOnTheFlinkFacingStorage() {
        noClasses().that().resideInAnyPackage("..upload..", "..store..", "..spill..", "..metrics..")
                .should().dependOnClassesThat().resideInAPackage("io.github.resilientcheckpoints.storage..")
                .check(core);
    }
}
