// ca/pkcs11_uri.h — RFC 7512 "pkcs11:" URIs naming a CA key held in a PKCS#11 token.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgeca::ca {

// The attributes edgeca acts on. Path: token, manufacturer, model, serial (which token),
// object, id (which key), type (private only). Query: module-path and pin-source (a file).
// Anything else is refused rather than ignored: a CA key named by a URI that means less than
// it says could be the wrong key. pin-value is refused too: a PIN never sits in a URI, which
// ends up in configuration files, shell history and process lists.
struct Pkcs11Uri {
    std::optional<std::string> token;
    std::optional<std::string> manufacturer;
    std::optional<std::string> model;
    std::optional<std::string> serial;
    std::optional<std::string> object;
    std::optional<std::vector<uint8_t>> id;
    std::optional<std::string> module_path;
    std::optional<std::string> pin_source;

    // Percent-decodes every value. Throws Error(bad_input, "pkcs11_uri_invalid") naming what
    // is wrong: not "pkcs11:", a bad escape, an unknown or repeated attribute, a pin-value, no
    // token (token, serial, manufacturer or model) or no key (object or id).
    static Pkcs11Uri parse(std::string_view text);

    // The URI again, each value percent-encoded where RFC 7512 asks for it; parse() reads it
    // back to the same attributes.
    std::string to_string() const;

    // The key as people read it: `object "issuing-ca" (id 01ab) in token "CA"`.
    std::string describe() const;
};

// True when `text` starts with "pkcs11:" (any case of the scheme).
bool is_pkcs11_uri(std::string_view text);

}  // namespace edgeca::ca
