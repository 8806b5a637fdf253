// Atomic file writes: temporary file, fsync, rename.
#include "neurona/core/io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "neurona/core/error.h"

namespace neurona {

std::filesystem::path temporary_path_for(const std::filesystem::path& path) {
  std::random_device rd;
  auto tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  return tmp;
}

void write_file_atomic(const std::filesystem::path& path, std::string_view contents) {
  const std::filesystem::path tmp = temporary_path_for(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  NEURONA_CHECK(fd >= 0, IoError, "write_file_atomic: cannot create ", tmp, ": ",
                std::strerror(errno));
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw IoError(detail::str("write_file_atomic: cannot write ", tmp, ": ", std::strerror(err)));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IoError(detail::str("write_file_atomic: cannot flush ", tmp, ": ", std::strerror(err)));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    ::unlink(tmp.c_str());
    throw IoError(
        detail::str("write_file_atomic: cannot rename ", tmp, " to ", path, ": ", ec.message()));
  }
}

}  // namespace neurona
