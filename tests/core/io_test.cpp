// Atomic file writes.
#include <neurona/neurona.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/test_util.h"

namespace nr = neurona;
namespace fs = std::filesystem;

namespace {
std::string read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
fs::path scratch_dir() {
  const fs::path d = fs::temp_directory_path() / ("neurona_io_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}
}  // namespace

TEST(WriteFileAtomic, WritesAndReplacesLeavingNoTemporaryFiles) {
  const fs::path dir = scratch_dir();
  const fs::path p = dir / "a.csv";
  nr::write_file_atomic(p, "first\n");
  EXPECT_EQ(read(p), "first\n");
  nr::write_file_atomic(p, "second\n");
  EXPECT_EQ(read(p), "second\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1);
  fs::remove_all(dir);
}

TEST(WriteFileAtomic, MissingFolderIsIoErrorNamingThePath) {
  NEURONA_EXPECT_THROW_MSG(nr::write_file_atomic("/nonexistent-neurona-dir/x.csv", "x"),
                           nr::IoError, "/nonexistent-neurona-dir/x.csv", "No such file");
}
