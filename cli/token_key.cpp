// cli/token_key.cpp — resolving a token key's module and PIN from flags, settings and URI.
#include "cli/token_key.h"

#include <fmt/format.h>

#include "ca/errors.h"
#include "cli/console.h"

namespace edgeca::cli {

TokenKeySettings merge(const TokenKeySettings& given, const TokenKeySettings& kept) {
    return {given.key ? given.key : kept.key, given.module ? given.module : kept.module,
            given.pin_file ? given.pin_file : kept.pin_file};
}

ca::TokenKeyLocation token_key_location(const TokenKeySettings& settings,
                                        const std::string& pin_env) {
    auto uri = ca::Pkcs11Uri::parse(settings.key.value_or(""));
    std::optional<std::filesystem::path> module = settings.module;
    if (!module && uri.module_path) module = *uri.module_path;
    if (!module) {
        throw ca::Error(ca::ErrorKind::bad_input, "pkcs11_module_unset",
                        "no PKCS#11 module for the token key: give --pkcs11-module PATH (e.g. "
                        "/usr/lib/softhsm/libsofthsm2.so) or module-path in the URI");
    }
    std::optional<std::filesystem::path> pin_file = settings.pin_file;
    if (!pin_file && uri.pin_source) pin_file = *uri.pin_source;
    std::string pin;
    try {
        pin = read_passphrase(
            {pin_file, pin_env, fmt::format("User PIN of token \"{}\"", uri.token.value_or("?"))},
            false);
    } catch (const ca::Error& e) {
        if (e.code() != "passphrase_missing") throw;
        throw ca::Error(
            ca::ErrorKind::unauthenticated, "pin_missing",
            fmt::format("no PIN for the token: give --pin-file, pin_file in the settings, "
                        "set {}, or run on a terminal",
                        pin_env));
    }
    return {std::move(uri), *module, std::move(pin)};
}

}  // namespace edgeca::cli
