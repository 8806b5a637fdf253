// Atomic file writes (temporary file, fsync, rename, fsync of the folder) and bounded reads of
// regular files.
#include "neurona/core/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "neurona/core/error.h"

namespace neurona {

std::filesystem::path temporary_path_for(const std::filesystem::path& path) {
  std::random_device rd;
  auto tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  return tmp;
}

int remove_temporaries_of(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const std::string prefix = path.filename().string() + ".tmp.";
  const auto digits = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::vector<fs::path> orphans;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return 0;
  for (const fs::directory_iterator end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    // <pid>.<number>: nothing else of that name is ours to delete.
    const std::string_view rest = std::string_view(name).substr(prefix.size());
    const std::size_t dot = rest.find('.');
    if (dot == std::string_view::npos || !digits(rest.substr(0, dot)) ||
        !digits(rest.substr(dot + 1))) {
      continue;
    }
    std::error_code type_ec;
    if (it->symlink_status(type_ec).type() == fs::file_type::regular) orphans.push_back(it->path());
  }
  NEURONA_CHECK(!ec, IoError, "remove_temporaries_of: cannot list ", dir, ": ", ec.message());
  int removed = 0;
  for (const fs::path& orphan : orphans) {
    std::error_code rm_ec;
    if (fs::remove(orphan, rm_ec)) ++removed;
    NEURONA_CHECK(!rm_ec, IoError, "remove_temporaries_of: cannot remove ", orphan, ": ",
                  rm_ec.message());
  }
  return removed;
}

void write_file_atomic(const std::filesystem::path& path, std::string_view contents,
                       const char* who) {
  const std::filesystem::path tmp = temporary_path_for(path);
  // The message names the file asked for; the temporary beside it only as the step that failed.
  const auto failed = [&](const char* step, const std::string& reason) {
    return IoError(
        detail::str(who, ": cannot write ", path, ": ", reason, " (", step, " ", tmp, ")"));
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw failed("creating the temporary file", std::strerror(errno));
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw failed("writing the temporary file", std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw failed("flushing the temporary file", std::strerror(err));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    ::unlink(tmp.c_str());
    throw failed("renaming the temporary file", ec.message());
  }
  fsync_directory(path.parent_path());
}

void fsync_directory(const std::filesystem::path& dir) {
  const std::filesystem::path d = dir.empty() ? std::filesystem::path(".") : dir;
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  NEURONA_CHECK(fd >= 0, IoError, "fsync_directory: cannot open ", d, ": ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // EINVAL: a file system that does not sync folders (as PostgreSQL's fsync_fname allows).
  NEURONA_CHECK(rc == 0 || err == EINVAL, IoError, "fsync_directory: cannot flush ", d, ": ",
                std::strerror(err));
}

void check_regular_file(const std::string& path, std::string_view what, std::string_view contents) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  NEURONA_CHECK(!ec && std::filesystem::exists(status), IoError, what, ": cannot open '", path,
                "' for reading: ", ec ? ec.message() : "No such file or directory");
  NEURONA_CHECK(!std::filesystem::is_directory(status), IoError, what, ": '", path,
                "' is a folder; neurona reads ", contents, " from regular files");
  NEURONA_CHECK(std::filesystem::is_regular_file(status), IoError, what, ": '", path,
                "' is not a regular file (a device, FIFO or socket); neurona reads ", contents,
                " from regular files");
}

int open_regular_file(const std::string& path, std::string_view what, std::string_view contents) {
  check_regular_file(path, what, contents);
  // O_NONBLOCK: should a FIFO have taken the file's place since, opening it does not block.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  NEURONA_CHECK(fd >= 0, IoError, what, ": cannot open '", path,
                "' for reading: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError(detail::str(what, ": '", path, "' is not a regular file"));
  }
  return fd;
}

namespace {

// read_regular_file into a std::string or a byte vector.
template <typename Bytes>
Bytes read_regular(const std::string& path, std::string_view what, std::string_view contents,
                   std::uint64_t max_bytes, std::string_view limit) {
  const int fd = open_regular_file(path, what, contents);
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } close_fd{fd};
  const std::string why = limit.empty() ? std::string() : detail::str(" (", limit, ")");
  struct stat st {};
  NEURONA_CHECK(::fstat(fd, &st) == 0, IoError, what, ": cannot read '", path,
                "': ", std::strerror(errno));
  NEURONA_CHECK(static_cast<std::uint64_t>(st.st_size) <= max_bytes, IoError, what, ": '", path,
                "' is ", st.st_size, " bytes, more than the ", max_bytes, " bytes allowed", why);
  // Read in pieces rather than trusting the size: /proc files report 0, and a file may grow.
  Bytes bytes;
  constexpr std::uint64_t kPiece = std::uint64_t{1} << 20;
  for (;;) {
    const std::size_t old = bytes.size();
    // Up to one byte past the limit, to tell a file of exactly max_bytes from a longer one.
    const std::uint64_t left = max_bytes - old;
    const std::uint64_t want = left >= kPiece ? kPiece : left + 1;
    bytes.resize(old + want);
    const ssize_t n = ::read(fd, bytes.data() + old, want);
    if (n < 0 && errno == EINTR) {
      bytes.resize(old);
      continue;
    }
    NEURONA_CHECK(n >= 0, IoError, what, ": cannot read '", path, "': ", std::strerror(errno));
    bytes.resize(old + static_cast<std::size_t>(n));
    NEURONA_CHECK(bytes.size() <= max_bytes, IoError, what, ": '", path, "' holds more than the ",
                  max_bytes, " bytes allowed", why);
    if (n == 0) return bytes;
  }
}

}  // namespace

std::string read_regular_file(const std::string& path, std::string_view what,
                              std::string_view contents, std::uint64_t max_bytes,
                              std::string_view limit) {
  return read_regular<std::string>(path, what, contents, max_bytes, limit);
}

std::vector<std::uint8_t> read_regular_file_bytes(const std::string& path, std::string_view what,
                                                  std::string_view contents,
                                                  std::uint64_t max_bytes, std::string_view limit) {
  return read_regular<std::vector<std::uint8_t>>(path, what, contents, max_bytes, limit);
}

}  // namespace neurona
