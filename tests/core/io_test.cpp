// Atomic file writes.
#include <neurona/neurona.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

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

TEST(RemoveTemporariesOf, RemovesOnlyTheTemporariesAKilledWriterLeft) {
  const fs::path dir = scratch_dir() / "orphans";
  fs::create_directories(dir / "f.bin.tmp.5.6");  // a folder is never a temporary of ours
  for (const char* name : {"f.bin", "f.bin.tmp.12.34", "f.bin.tmp.1.2", "f.bin.tmp.x.1",
                           "f.bin.tmp.12.34.bak", "f.bin.tmp.12", "g.bin.tmp.1.2"}) {
    std::ofstream(dir / name) << "x";
  }
  EXPECT_EQ(nr::remove_temporaries_of(dir / "f.bin"), 2);
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.insert(e.path().filename().string());
  EXPECT_EQ(left, (std::set<std::string>{"f.bin", "f.bin.tmp.5.6", "f.bin.tmp.x.1",
                                         "f.bin.tmp.12.34.bak", "f.bin.tmp.12", "g.bin.tmp.1.2"}));
  EXPECT_EQ(nr::remove_temporaries_of(dir / "missing" / "f.bin"), 0);
  fs::remove_all(dir);
}

TEST(FsyncDirectory, FlushesAFolderAndNamesAMissingOne) {
  const fs::path dir = scratch_dir();
  EXPECT_NO_THROW(nr::fsync_directory(dir));
  NEURONA_EXPECT_THROW_MSG(nr::fsync_directory(dir / "missing"), nr::IoError, "missing",
                           "No such file");
}
