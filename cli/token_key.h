// cli/token_key.h — where a CA key held in a PKCS#11 token is, as the command line and the
// directory's settings name it, and its PIN.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "ca/pkcs11_key.h"

namespace edgeca::cli {

struct TokenKeySettings {
    std::optional<std::string> key;                 // "pkcs11:token=...;object=..."
    std::optional<std::filesystem::path> module;    // the token's PKCS#11 module
    std::optional<std::filesystem::path> pin_file;  // first line: the user PIN
    bool in_token() const { return key.has_value(); }
};

// `given` (the command line) over `kept` (the directory's settings), one setting at a time.
TokenKeySettings merge(const TokenKeySettings& given, const TokenKeySettings& kept);

// Parses the URI and finds the module and the PIN: the module from the settings, else the
// URI's module-path; the PIN from the settings' pin file, else the URI's pin-source, else
// `pin_env`, else a prompt on the terminal. Never from argv. Throws Error(bad_input,
// "pkcs11_module_unset") without a module and Error(unauthenticated, "pin_missing") without
// a PIN.
ca::TokenKeyLocation token_key_location(const TokenKeySettings& settings,
                                        const std::string& pin_env);

}  // namespace edgeca::cli
