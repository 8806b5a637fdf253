// Atomic file writes and bounded reads of regular files.
#include <neurona/neurona.h>

#include <sys/stat.h>
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
  NEURONA_EXPECT_THROW_MSG(
      nr::write_file_atomic("/nonexistent-neurona-dir/x.csv", "x"), nr::IoError,
      "write_file_atomic: cannot write \"/nonexistent-neurona-dir/x.csv\": No such file",
      "(creating the temporary file");
  // Callers give their name: what the user called, not the helper.
  NEURONA_EXPECT_THROW_MSG(
      nr::write_file_atomic("/nonexistent-neurona-dir/m.keras", "x", "Model.save"), nr::IoError,
      "Model.save: cannot write \"/nonexistent-neurona-dir/m.keras\"");
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

TEST(ReadRegularFile, ReadsTheWholeFileUpToTheBound) {
  const fs::path dir = scratch_dir();
  const std::string p = (dir / "a.bin").string();
  nr::write_file_atomic(p, "0123456789");
  EXPECT_EQ(nr::read_regular_file(p, "op", "data"), "0123456789");
  EXPECT_EQ(nr::read_regular_file(p, "op", "data", 10), "0123456789");
  EXPECT_EQ(nr::read_regular_file_bytes(p, "op", "data", 10).size(), 10u);
  NEURONA_EXPECT_THROW_MSG(
      nr::read_regular_file(p, "op", "data", 9, "Options::max_bytes"), nr::IoError, "op: '",
      "a.bin' is 10 bytes, more than the 9 bytes allowed", "(Options::max_bytes)");
  fs::remove_all(dir);
}

TEST(ReadRegularFile, RefusesWhatIsNotARegularFileBeforeOpeningIt) {
  // /dev/zero never ends and a FIFO blocks its reader.
  const fs::path dir = scratch_dir();
  const std::string fifo = (dir / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& p : {std::string("/dev/zero"), fifo}) {
    NEURONA_EXPECT_THROW_MSG(nr::read_regular_file(p, "load", "models"), nr::IoError, "load: '",
                             p.c_str(), "is not a regular file",
                             "neurona reads models from regular files");
    NEURONA_EXPECT_THROW_MSG(nr::open_regular_file(p, "load", "models"), nr::IoError,
                             "is not a regular file");
  }
  NEURONA_EXPECT_THROW_MSG(nr::check_regular_file(dir.string(), "load", "data"), nr::IoError,
                           "is a folder");
  NEURONA_EXPECT_THROW_MSG(nr::read_regular_file((dir / "missing").string(), "load", "data"),
                           nr::IoError, "load: cannot open '", "missing' for reading");
  fs::remove_all(dir);
}
