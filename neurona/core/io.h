// Files written so that a crash at any point leaves either the old file or the new one, and
// files read only when they are regular files, with a bound on their size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace neurona {

/// Writes `contents` to `path` atomically: a temporary file in the same folder, flushed to
/// disk, renamed over `path`, then the folder flushed so that the rename survives a power
/// loss. Throws IoError naming `who` (the caller, e.g. "Model.save"), the path and the
/// system's reason.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents,
                       const char* who = "write_file_atomic");

/// Flushes a folder's entries (files created, renamed or removed in it) to disk ("" is the
/// current folder). A file system that cannot sync folders is left alone; any other failure
/// is an IoError naming the folder.
void fsync_directory(const std::filesystem::path& dir);

/// A temporary name beside `path` (same folder, so a rename onto `path` is atomic):
/// `<path>.tmp.<pid>.<random number>`.
std::filesystem::path temporary_path_for(const std::filesystem::path& path);

/// Removes the temporary files of `path` (named as temporary_path_for names them) that a
/// writer killed before its rename left behind, and nothing else; returns how many. Call it
/// only when no other process is writing `path`. A missing folder has none.
int remove_temporaries_of(const std::filesystem::path& path);

/// Refuses, before it is opened, what is not a regular file at `path`: a device such as
/// /dev/zero never ends, and opening a FIFO blocks until someone writes to it. Throws IoError
/// naming `what` (the operation: "load_model", "read_idx"), the path and the reason; the
/// message says that neurona reads `contents` ("models", "data") from regular files.
void check_regular_file(const std::string& path, std::string_view what, std::string_view contents);

/// Opens the regular file `path` for reading: check_regular_file, then an open with O_NONBLOCK
/// (a FIFO put in its place since does not block) and an fstat that it is still a regular
/// file. The caller closes the file descriptor. Throws IoError as check_regular_file.
int open_regular_file(const std::string& path, std::string_view what, std::string_view contents);

/// The whole of the regular file `path` (opened by open_regular_file), at most `max_bytes` of
/// it: IoError naming its size and `limit` (the setting that raises it, when not empty) when it
/// is larger, checked on its size before reading and on the bytes read (a file that grows, or
/// whose size the system does not know, as /proc's).
std::string read_regular_file(const std::string& path, std::string_view what,
                              std::string_view contents,
                              std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max(),
                              std::string_view limit = "");
/// read_regular_file into bytes.
std::vector<std::uint8_t> read_regular_file_bytes(
    const std::string& path, std::string_view what, std::string_view contents,
    std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max(),
    std::string_view limit = "");

}  // namespace neurona
