// ca/distinguished_name.cpp — the subject rules of the EnOS CA, and DN text in and out.
#include "ca/distinguished_name.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "ca/errors.h"
#include "ca/utf8.h"

namespace edgeca::ca {
namespace {

struct AttributeType {
    std::string_view key;
    std::string_view oid;
    size_t max_chars;
};

// Canonical encoding order (most general first).
constexpr std::array<AttributeType, 6> attribute_types = {{
    {"C", "2.5.4.6", 2},
    {"ST", "2.5.4.8", 64},
    {"L", "2.5.4.7", 64},
    {"O", "2.5.4.10", 64},
    {"OU", "2.5.4.11", 64},
    {"CN", "2.5.4.3", 64},
}};

const AttributeType* type_by_key(std::string_view key) {
    std::string upper(key);
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    for (const auto& type : attribute_types) {
        if (type.key == upper) return &type;
    }
    return nullptr;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Counts UTF-8 code points; throws on malformed UTF-8.
size_t utf8_length(std::string_view s, std::string_view key) {
    size_t count = 0;
    for (size_t i = 0; i < s.size(); ++count) {
        size_t n = utf8_sequence_length(s, i);
        if (n == 0) {
            throw Error(ErrorKind::policy, "subject_attribute_invalid",
                        fmt::format("subject attribute {} is not valid UTF-8", key));
        }
        i += n;
    }
    return count;
}

void check_value(const AttributeType& type, std::string_view value) {
    if (value.empty()) {
        throw Error(ErrorKind::policy, "subject_attribute_empty",
                    fmt::format("subject attribute {} is empty", type.key));
    }
    // "edge-1 " and "edge-1" read alike to a person and to RFC 4514 parsers that trim, but are
    // different names to the duplicate-subject rule.
    if (value.front() == ' ' || value.back() == ' ') {
        throw Error(ErrorKind::policy, "subject_attribute_invalid",
                    fmt::format("subject attribute {} begins or ends with a space", type.key));
    }
    for (char ch : value) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
            throw Error(ErrorKind::policy, "subject_attribute_invalid",
                        fmt::format("subject attribute {} contains a control character or NUL "
                                    "(byte {:#04x})",
                                    type.key, c));
        }
    }
    if (type.key == "C") {
        bool letters = value.size() == 2 && std::all_of(value.begin(), value.end(), [](char c) {
                           return c >= 'A' && c <= 'Z';
                       });
        if (!letters) {
            throw Error(ErrorKind::policy, "subject_country_invalid",
                        fmt::format("subject attribute C must be a two-letter country code "
                                    "(ISO 3166, upper case), not '{}'",
                                    value.substr(0, 16)));
        }
        return;
    }
    size_t length = utf8_length(value, type.key);
    if (length > type.max_chars) {
        throw Error(ErrorKind::policy, "subject_attribute_too_long",
                    fmt::format("subject attribute {} is {} characters long; at most {} are "
                                "allowed",
                                type.key, length, type.max_chars));
    }
}

std::string escape_rfc4514(std::string_view value) {
    std::string out;
    for (size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        bool special = c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' ||
                       c == ';' || c == '=';
        bool edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == value.size() && c == ' ');
        if (special || edge) out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

[[noreturn]] void malformed(const std::string& why) {
    throw Error(ErrorKind::bad_input, "malformed_subject", why);
}

}  // namespace

std::vector<DnAttribute> parse_distinguished_name(std::string_view text) {
    text = trim(text);
    if (text.empty()) malformed("the subject is empty: give it as \"CN=...,O=...,C=..\"");
    const bool openssl_form = text.front() == '/';
    const char separator = openssl_form ? '/' : ',';
    if (openssl_form) text.remove_prefix(1);

    std::vector<std::string> parts(1);
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\\') {
            if (i + 1 == text.size()) malformed("the subject ends with a lone backslash");
            parts.back().push_back(text[++i]);
        } else if (c == separator) {
            parts.emplace_back();
        } else if (c == '+' && !openssl_form) {
            malformed("multi-valued RDNs ('+') are not supported in a subject");
        } else {
            parts.back().push_back(c);
        }
    }

    std::vector<DnAttribute> attributes;
    for (const auto& part : parts) {
        auto eq = part.find('=');
        if (eq == std::string::npos) {
            malformed(fmt::format("'{}' in the subject is not of the form KEY=VALUE", part));
        }
        std::string_view key = trim(std::string_view(part).substr(0, eq));
        std::string_view value = trim(std::string_view(part).substr(eq + 1));
        const AttributeType* type = type_by_key(key);
        if (type == nullptr) {
            throw Error(ErrorKind::policy, "subject_attribute_not_allowed",
                        fmt::format("subject attribute '{}' is not allowed; use C, ST, L, O, OU "
                                    "and CN",
                                    key));
        }
        attributes.push_back({std::string(type->key), std::string(value)});
    }
    return attributes;
}

std::vector<DnAttribute> attributes_of(const Botan::X509_DN& dn) {
    std::vector<DnAttribute> attributes;
    for (const auto& [oid, value] : dn.dn_info()) {
        const std::string oid_text = oid.to_string();
        auto type = std::find_if(attribute_types.begin(), attribute_types.end(),
                                 [&](const AttributeType& t) { return t.oid == oid_text; });
        if (type == attribute_types.end()) {
            std::string name = oid.to_formatted_string();
            throw Error(ErrorKind::policy, "subject_attribute_not_allowed",
                        fmt::format("subject attribute {} is not allowed; only C, ST, L, O, OU "
                                    "and CN are",
                                    name));
        }
        attributes.push_back({std::string(type->key), value.value()});
    }
    return attributes;
}

Botan::X509_DN build_subject(const std::vector<DnAttribute>& attributes) {
    for (const auto& attribute : attributes) {
        if (type_by_key(attribute.key) == nullptr) {
            throw Error(ErrorKind::policy, "subject_attribute_not_allowed",
                        fmt::format("subject attribute '{}' is not allowed", attribute.key));
        }
    }
    Botan::X509_DN dn;
    for (const auto& type : attribute_types) {
        const DnAttribute* found = nullptr;
        for (const auto& attribute : attributes) {
            if (attribute.key != type.key) continue;
            if (found != nullptr) {
                throw Error(ErrorKind::policy, "subject_attribute_repeated",
                            fmt::format("subject attribute {} appears more than once", type.key));
            }
            found = &attribute;
        }
        if (found == nullptr) {
            if (type.key == "CN") {
                throw Error(ErrorKind::policy, "subject_cn_missing",
                            "the subject has no common name (CN), which is required");
            }
            continue;
        }
        check_value(type, found->value);
        dn.add_attribute(Botan::OID::from_string(std::string(type.oid)), found->value);
    }
    return dn;
}

std::string to_rfc4514(const Botan::X509_DN& dn) {
    std::string out;
    const auto& info = dn.dn_info();
    for (auto it = info.rbegin(); it != info.rend(); ++it) {
        const std::string oid_text = it->first.to_string();
        auto type = std::find_if(attribute_types.begin(), attribute_types.end(),
                                 [&](const AttributeType& t) { return t.oid == oid_text; });
        std::string key = type != attribute_types.end() ? std::string(type->key) : oid_text;
        if (!out.empty()) out.push_back(',');
        out += key;
        out.push_back('=');
        out += escape_rfc4514(it->second.value());
    }
    return out;
}

std::string common_name_of(const Botan::X509_DN& dn) {
    return dn.get_first_attribute(Botan::OID::from_string("2.5.4.3")).value();
}

}  // namespace edgeca::ca
