// Files written so that a crash at any point leaves either the old file or the new one.
#pragma once

#include <filesystem>
#include <string_view>

namespace neurona {

/// Writes `contents` to `path` atomically: a temporary file in the same folder, flushed to
/// disk, renamed over `path`, then the folder flushed so that the rename survives a power
/// loss. Throws IoError naming the path and the system's reason.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

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

}  // namespace neurona
