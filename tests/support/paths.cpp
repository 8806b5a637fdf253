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

std::filesystem::path fixture_output_dir(const char* variable) {
  const char* env = std::getenv(variable);
  if (env == nullptr || *env == 0) return {};
  std::filesystem::create_directories(env);
  return env;
}

}  // namespace neurona::testing
