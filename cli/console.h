// cli/console.h — what the command-line tools share: passphrases, the actor, error reporting.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "cli/exit_codes.h"

namespace edgeca::cli {

struct PassphraseSource {
    std::optional<std::filesystem::path> file;  // --passphrase-file
    std::string env_var;                        // EDGECA_ROOT_PASSPHRASE or EDGECA_PASSPHRASE
    std::string prompt;                         // "Root key passphrase"
};

// From the file (its first line), else the environment variable, else a prompt on the
// terminal with echo off. With `confirm`, the prompt asks twice and the passphrase must be at
// least `min_length` characters. Never from argv. Throws ca::Error(unauthenticated,
// "passphrase_missing") when there is no source at all.
std::string read_passphrase(const PassphraseSource& source, bool confirm, size_t min_length = 0);

// "cli:<name>", the actor recorded in audit entries for local commands: $EDGECA_ACTOR (a
// ceremony can name its officer), else $USER or $LOGNAME, else the numeric user id.
std::string local_actor();

// Runs `body`; prints a ca::Error or store error as "<program>: error: <message>" on stderr
// and returns the matching exit code.
int run_reporting_errors(const char* program, const std::function<int()>& body);

// Colon-separated upper-case hex ("AB:CD:..."), as OpenSSL prints fingerprints.
std::string colon_hex(const std::string& lower_hex);

}  // namespace edgeca::cli
