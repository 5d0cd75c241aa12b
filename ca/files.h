// ca/files.h — reading input files with a size bound, and writing files atomically.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace edgeca::ca {

// Reads a whole file of at most `max_bytes`. Throws Error(not_found | bad_input | too_large)
// with a message naming `what` and the path.
std::string read_file(const std::filesystem::path& path, std::string_view what,
                      size_t max_bytes = 1 << 20);

// Writes to a temporary file beside `path` with `mode`, fsyncs it, renames it over `path` and
// fsyncs the directory: a reader sees the old content or the new one, never a torn file, and a
// crash after return loses nothing. With `exclusive`, refuses to replace an existing file.
void write_file_atomically(const std::filesystem::path& path, std::string_view content,
                           mode_t mode, bool exclusive = false);

// Creates a directory (and its parents) with mode 0700 when missing.
void ensure_private_directory(const std::filesystem::path& dir);

}  // namespace edgeca::ca
