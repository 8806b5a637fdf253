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

}  // namespace neurona::testing
