// The absolute paths the tests need from the build (the reference files, helper programs). They
// are compiled into one file, support/paths.cpp, so that every other test object is the same in
// any checkout and ccache (CCACHE_BASEDIR, scripts/env.sh) shares it between checkouts.
#pragma once

#include <filesystem>
#include <string>

namespace neurona::testing {

/// tests/reference: the environment variable NEURONA_TEST_REFERENCE_DIR where set (binaries
/// built here and run from another checkout, as scripts/gpu-check.sh does), else the folder the
/// build was configured from.
std::filesystem::path reference_dir();

/// The backup_fit_child program (tests/models/helpers/), which BackupAndRestore's tests kill.
std::string backup_fit_child_path();

/// Where a fixture writer (a test that saves neurona's files for a reference script's --check
/// mode) writes: the directory named by the environment variable `variable`, created; empty
/// where the variable is unset or empty.
std::filesystem::path fixture_output_dir(const char* variable);

}  // namespace neurona::testing

/// Opens a fixture writer's test body: declares `dir`, $variable's directory (created), or
/// skips the test saying which variable to set:
///   NEURONA_FIXTURE_DIR_OR_SKIP(dir, "NEURONA_WRITE_RNN_FIXTURES");
#define NEURONA_FIXTURE_DIR_OR_SKIP(dir, variable)                                    \
  const std::filesystem::path dir = ::neurona::testing::fixture_output_dir(variable); \
  if (dir.empty()) GTEST_SKIP() << "set " << (variable) << "=DIR to write the files Keras checks"
