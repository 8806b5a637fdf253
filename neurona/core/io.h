// Files written so that a crash at any point leaves either the old file or the new one.
#pragma once

#include <filesystem>
#include <string_view>

namespace neurona {

/// Writes `contents` to `path` atomically: a temporary file in the same folder, flushed to
/// disk, then renamed over `path`. Throws IoError naming the path and the system's reason.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

/// A temporary name beside `path` (same folder, so a rename onto `path` is atomic).
std::filesystem::path temporary_path_for(const std::filesystem::path& path);

}  // namespace neurona
