// ca/files.cpp — file reads and atomic, durable file writes.
#include "ca/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <botan/hex.h>
#include <botan/system_rng.h>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "ca/errors.h"

namespace edgeca::ca {
namespace {

[[noreturn]] void io_error(std::string_view doing, const std::filesystem::path& path, int err) {
    throw Error(ErrorKind::unavailable, "io_error",
                fmt::format("cannot {} {}: {}", doing, path.string(), std::strerror(err)));
}

void fsync_directory(const std::filesystem::path& dir) {
    int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) io_error("open the directory", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) io_error("sync the directory", dir, err);
}

}  // namespace

std::string read_file(const std::filesystem::path& path, std::string_view what, size_t max_bytes) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        throw Error(ErrorKind::not_found, "file_not_found",
                    fmt::format("{} {} does not exist", what, path.string()));
    }
    if (std::filesystem::is_directory(path, ec)) {
        throw Error(ErrorKind::bad_input, "not_a_file",
                    fmt::format("{} {} is a directory, not a file", what, path.string()));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) io_error("read", path, errno);
    std::string content;
    char buffer[65536];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        content.append(buffer, static_cast<size_t>(in.gcount()));
        if (content.size() > max_bytes) {
            throw Error(ErrorKind::too_large, "file_too_large",
                        fmt::format("{} {} is larger than the {} bytes allowed", what,
                                    path.string(), max_bytes));
        }
    }
    return content;
}

void write_file_atomically(const std::filesystem::path& path, std::string_view content,
                           mode_t mode, bool exclusive) {
    if (exclusive && std::filesystem::exists(path)) {
        throw Error(ErrorKind::conflict, "file_exists",
                    fmt::format("{} already exists; it is never overwritten", path.string()));
    }
    Botan::System_RNG rng;
    std::filesystem::path temp = path;
    temp += fmt::format(".tmp-{}", Botan::hex_encode(rng.random_vec(6), false));
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) io_error("create", temp, errno);
    // The umask may have narrowed the mode; widen it back to exactly what was asked.
    ::fchmod(fd, mode);
    size_t written = 0;
    while (written < content.size()) {
        ssize_t n = ::write(fd, content.data() + written, content.size() - written);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            ::close(fd);
            ::unlink(temp.c_str());
            io_error("write", temp, err);
        }
        written += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        int err = errno;
        ::close(fd);
        ::unlink(temp.c_str());
        io_error("sync", temp, err);
    }
    ::close(fd);
    if (exclusive) {
        // link() fails if the target appeared in the meantime: no race replaces a file.
        if (::link(temp.c_str(), path.c_str()) != 0) {
            int err = errno;
            ::unlink(temp.c_str());
            if (err == EEXIST) {
                throw Error(ErrorKind::conflict, "file_exists",
                            fmt::format("{} already exists; it is never overwritten",
                                        path.string()));
            }
            io_error("create", path, err);
        }
        ::unlink(temp.c_str());
    } else if (::rename(temp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(temp.c_str());
        io_error("replace", path, err);
    }
    fsync_directory(path.parent_path());
}

void ensure_private_directory(const std::filesystem::path& dir) {
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec)) return;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        throw Error(ErrorKind::unavailable, "io_error",
                    fmt::format("cannot create the directory {}: {}", dir.string(), ec.message()));
    }
    ::chmod(dir.c_str(), 0700);
}

}  // namespace edgeca::ca
