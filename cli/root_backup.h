// cli/root_backup.h — `edgeca-root backup` and `restore`: the root key as M-of-N custodian shares.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <optional>
#include <vector>

namespace edgeca::cli {

struct RootBackupOptions {
    std::filesystem::path dir;
    std::optional<std::filesystem::path> passphrase_file;  // the root key's
    int shares = 0;                                          // N
    int threshold = 0;                                       // M
    std::filesystem::path out_dir;
    std::vector<std::filesystem::path> share_files;
    std::vector<std::filesystem::path> share_passphrase_files;  // one per custodian, in order
};

struct RootBackupCommands {
    CLI::App* backup = nullptr;
    CLI::App* restore = nullptr;
};

// Registers the two subcommands on `app`, their options landing in `o`.
RootBackupCommands add_root_backup_commands(CLI::App& app, RootBackupOptions& o);

int run_root_backup(const RootBackupOptions& o);
int run_root_restore(const RootBackupOptions& o);

}  // namespace edgeca::cli
