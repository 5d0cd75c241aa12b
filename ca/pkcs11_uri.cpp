// ca/pkcs11_uri.cpp — reading and writing RFC 7512 PKCS#11 URIs, strictly.
#include "ca/pkcs11_uri.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

#include "ca/encoding.h"
#include "ca/errors.h"

namespace edgeca::ca {
namespace {

constexpr std::string_view scheme = "pkcs11:";

[[noreturn]] void invalid(const std::string& why) {
    throw Error(ErrorKind::bad_input, "pkcs11_uri_invalid",
                fmt::format("the PKCS#11 URI is invalid: {}", why));
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::vector<uint8_t> percent_decode(std::string_view value, std::string_view name) {
    std::vector<uint8_t> bytes;
    for (size_t i = 0; i < value.size(); ++i) {
        if (value[i] != '%') {
            bytes.push_back(static_cast<uint8_t>(value[i]));
            continue;
        }
        int high = i + 2 < value.size() ? hex_value(value[i + 1]) : -1;
        int low = high >= 0 ? hex_value(value[i + 2]) : -1;
        if (high < 0 || low < 0) {
            invalid(fmt::format("'{}' has a '%' that is not followed by two hex digits", name));
        }
        bytes.push_back(static_cast<uint8_t>(high * 16 + low));
        i += 2;
    }
    return bytes;
}

// A text attribute: decoded, non-empty, no control characters (a label with a NUL or a
// newline is not one anybody typed).
std::string decode_text(std::string_view value, std::string_view name) {
    auto bytes = percent_decode(value, name);
    if (bytes.empty()) invalid(fmt::format("'{}' is empty", name));
    if (std::any_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b < 0x20 || b == 0x7f; })) {
        invalid(fmt::format("'{}' holds a control character", name));
    }
    return std::string(bytes.begin(), bytes.end());
}

// RFC 3986 unreserved characters, plus those RFC 7512 lets a value carry as they are.
bool keep_as_is(char c, bool in_query) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~')
        return true;
    return in_query && c == '/';
}

std::string percent_encode(std::string_view bytes, bool in_query) {
    std::string out;
    for (char c : bytes) {
        if (keep_as_is(c, in_query)) {
            out += c;
        } else {
            out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
        }
    }
    return out;
}

template <typename T>
void set_once(std::optional<T>& slot, T value, std::string_view name) {
    if (slot) invalid(fmt::format("'{}' is given twice", name));
    slot = std::move(value);
}

void read_path_attribute(Pkcs11Uri& uri, std::string_view name, std::string_view value) {
    if (name == "token") return set_once(uri.token, decode_text(value, name), name);
    if (name == "manufacturer") return set_once(uri.manufacturer, decode_text(value, name), name);
    if (name == "model") return set_once(uri.model, decode_text(value, name), name);
    if (name == "serial") return set_once(uri.serial, decode_text(value, name), name);
    if (name == "object") return set_once(uri.object, decode_text(value, name), name);
    if (name == "id") {
        auto bytes = percent_decode(value, name);
        if (bytes.empty()) invalid("'id' is empty");
        return set_once(uri.id, std::move(bytes), name);
    }
    if (name == "type") {
        if (decode_text(value, name) != "private") {
            invalid("'type' names the private key of a CA: only type=private is meaningful");
        }
        return;
    }
    invalid(fmt::format(
        "the path attribute '{}' is not one edgeca acts on (token, manufacturer, model, "
        "serial, object, id, type)",
        name));
}

void read_query_attribute(Pkcs11Uri& uri, std::string_view name, std::string_view value) {
    if (name == "module-path") return set_once(uri.module_path, decode_text(value, name), name);
    if (name == "pin-source") {
        std::string source = decode_text(value, name);
        if (source.rfind("file:", 0) == 0) source.erase(0, 5);
        if (source.empty() || source.front() == '|') {
            invalid("'pin-source' must name a file (pin-source=file:/path or pin-source=/path)");
        }
        return set_once(uri.pin_source, std::move(source), name);
    }
    if (name == "pin-value") {
        invalid(
            "'pin-value' puts the PIN in the URI; give it in a file (--pin-file, pin-source) or "
            "an environment variable instead");
    }
    invalid(fmt::format(
        "the query attribute '{}' is not one edgeca acts on (module-path, pin-source)", name));
}

template <typename Read>
void read_attributes(Pkcs11Uri& uri, std::string_view part, char separator, Read read) {
    size_t start = 0;
    while (start <= part.size()) {
        size_t end = std::min(part.find(separator, start), part.size());
        std::string_view attribute = part.substr(start, end - start);
        size_t equals = attribute.find('=');
        if (attribute.empty() || equals == std::string_view::npos || equals == 0) {
            invalid(fmt::format("'{}' is not an attribute of the form name=value", attribute));
        }
        read(uri, attribute.substr(0, equals), attribute.substr(equals + 1));
        start = end + 1;
    }
}

}  // namespace

bool is_pkcs11_uri(std::string_view text) {
    if (text.size() < scheme.size()) return false;
    return std::equal(scheme.begin(), scheme.end(), text.begin(), [](char a, char b) {
        return a == std::tolower(static_cast<unsigned char>(b));
    });
}

Pkcs11Uri Pkcs11Uri::parse(std::string_view text) {
    if (!is_pkcs11_uri(text)) invalid("it does not start with \"pkcs11:\"");
    if (text.size() > 4096) invalid("it is longer than 4096 characters");
    std::string_view rest = text.substr(scheme.size());
    size_t question = rest.find('?');
    std::string_view path = rest.substr(0, question);
    Pkcs11Uri uri;
    if (!path.empty()) read_attributes(uri, path, ';', read_path_attribute);
    if (question != std::string_view::npos) {
        read_attributes(uri, rest.substr(question + 1), '&', read_query_attribute);
    }
    if (!uri.token && !uri.serial && !uri.manufacturer && !uri.model) {
        invalid("it names no token (give token=LABEL or serial=...)");
    }
    if (!uri.object && !uri.id) invalid("it names no key (give object=LABEL or id=...)");
    return uri;
}

std::string Pkcs11Uri::to_string() const {
    std::vector<std::string> path;
    auto add = [&path](std::string_view name, const std::optional<std::string>& value) {
        if (value) path.push_back(fmt::format("{}={}", name, percent_encode(*value, false)));
    };
    add("token", token);
    add("manufacturer", manufacturer);
    add("model", model);
    add("serial", serial);
    add("object", object);
    if (id) {
        std::string encoded;
        for (uint8_t b : *id) encoded += fmt::format("%{:02X}", b);
        path.push_back("id=" + encoded);
    }
    path.push_back("type=private");
    std::vector<std::string> query;
    if (module_path) query.push_back("module-path=" + percent_encode(*module_path, true));
    if (pin_source) query.push_back("pin-source=file:" + percent_encode(*pin_source, true));
    std::string out = std::string(scheme) + fmt::format("{}", fmt::join(path, ";"));
    if (!query.empty()) out += "?" + fmt::format("{}", fmt::join(query, "&"));
    return out;
}

std::string Pkcs11Uri::describe() const {
    std::string key = object ? fmt::format("object \"{}\"", *object) : std::string("the object");
    if (id) key += fmt::format(" (id {})", to_hex(*id));
    std::string where = token ? fmt::format("token \"{}\"", *token) : std::string("the token");
    if (serial) where += fmt::format(" (serial {})", *serial);
    return key + " in " + where;
}

}  // namespace edgeca::ca
