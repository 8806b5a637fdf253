#include "support/paths.h"

#include <cstdlib>

namespace neurona::testing {

std::filesystem::path reference_dir() {
  if (const char* env = std::getenv("NEURONA_TEST_REFERENCE_DIR"); env != nullptr && *env != 0) {
    return env;
  }
  return NEURONA_TEST_REFERENCE_DIR;
}

std::string backup_fit_child_path() {
  // The GPU check's bundle runs the tests on another machine, where the build path is gone.
  if (const char* env = std::getenv("NEURONA_BACKUP_FIT_CHILD"); env != nullptr && *env != 0) {
    return env;
  }
  return NEURONA_BACKUP_FIT_CHILD;
}

}  // namespace neurona::testing
