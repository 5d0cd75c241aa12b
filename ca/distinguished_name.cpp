// ca/distinguished_name.cpp — the subject rules of the EnOS CA, and DN text in and out.
#include "ca/distinguished_name.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "ca/errors.h"
#include "ca/utf8.h"

namespace edgeca::ca {
namespace {

struct AttributeType {
    std::string_view key;
    std::string_view oid;
    size_t max_chars;
};

// The attribute types a subject may hold.
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

// The characters of a value, one by one: well-formed UTF-8, and nothing a reader cannot see or
// that reorders what they see. Returns the number of characters.
size_t check_characters(const AttributeType& type, std::string_view value) {
    size_t count = 0;
    for (size_t i = 0; i < value.size(); ++count) {
        const size_t n = utf8_sequence_length(value, i);
        if (n == 0) {
            throw Error(ErrorKind::policy, "subject_attribute_invalid",
                        fmt::format("subject attribute {} is not valid UTF-8", type.key));
        }
        const char32_t c = utf8_code_point(value, i, n);
        if (c < 0x20 || c == 0x7f) {
            throw Error(ErrorKind::policy, "subject_attribute_invalid",
                        fmt::format("subject attribute {} contains a control character or NUL "
                                    "(byte {:#04x})",
                                    type.key, static_cast<unsigned>(c)));
        }
        if (const char* kind = hidden_character_kind(c)) {
            const char* name = hidden_character_name(c);
            throw Error(ErrorKind::policy, "subject_character_not_allowed",
                        fmt::format("subject attribute {} contains U+{:04X}{}, {}: a name must "
                                    "read as what it is, so invisible, direction-changing and "
                                    "non-characters are refused",
                                    type.key, static_cast<uint32_t>(c),
                                    name ? fmt::format(" ({})", name) : std::string(), kind));
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
    const size_t length = check_characters(type, value);
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
    if (length > type.max_chars) {
        throw Error(ErrorKind::policy, "subject_attribute_too_long",
                    fmt::format("subject attribute {} is {} characters long; at most {} are "
                                "allowed",
                                type.key, length, type.max_chars));
    }
}

bool printable(std::string_view value) {
    return std::all_of(value.begin(), value.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               std::string_view(" '()+,-./:=?").find(c) != std::string_view::npos;
    });
}

// The string type a value is written as. A request's PrintableString or UTF8String is kept, so
// the certificate's subject is the request's byte for byte; other types (BMPString,
// TeletexString...) become one of these two, the only ones RFC 5280 lets a CA write. C is
// always a PrintableString (X520countryName).
Botan::ASN1_String encoded(const AttributeType& type, const std::string& value,
                           Botan::ASN1_Tag requested) {
    if (type.key == "C") return Botan::ASN1_String(value, Botan::PRINTABLE_STRING);
    if (requested == Botan::UTF8_STRING) return Botan::ASN1_String(value, Botan::UTF8_STRING);
    if (requested == Botan::PRINTABLE_STRING && printable(value)) {
        return Botan::ASN1_String(value, Botan::PRINTABLE_STRING);
    }
    return Botan::ASN1_String(value);  // PrintableString when the value fits one, else UTF8String
}

// The subject rules, then a fresh DN with the attributes in the order given, one per RDN.
// `string_types` is empty or holds the requested string type of each attribute.
Botan::X509_DN build(const std::vector<DnAttribute>& attributes,
                     const std::vector<Botan::ASN1_Tag>& string_types) {
    std::vector<const AttributeType*> types;
    for (const auto& attribute : attributes) {
        const AttributeType* type = type_by_key(attribute.key);
        if (type == nullptr) {
            throw Error(ErrorKind::policy, "subject_attribute_not_allowed",
                        fmt::format("subject attribute '{}' is not allowed", attribute.key));
        }
        if (std::find(types.begin(), types.end(), type) != types.end()) {
            throw Error(ErrorKind::policy, "subject_attribute_repeated",
                        fmt::format("subject attribute {} appears more than once", type->key));
        }
        types.push_back(type);
    }
    if (std::none_of(types.begin(), types.end(), [](const AttributeType* t) { return t->key == "CN"; })) {
        throw Error(ErrorKind::policy, "subject_cn_missing",
                    "the subject has no common name (CN), which is required");
    }
    Botan::X509_DN dn;
    for (size_t i = 0; i < attributes.size(); ++i) {
        check_value(*types[i], attributes[i].value);
        const Botan::ASN1_Tag requested = i < string_types.size() ? string_types[i] : Botan::NO_OBJECT;
        dn.add_attribute(Botan::OID::from_string(std::string(types[i]->oid)),
                         encoded(*types[i], attributes[i].value, requested));
    }
    return dn;
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
    // RFC 4514 writes the most specific attribute first, the reverse of the encoding order.
    if (!openssl_form) std::reverse(attributes.begin(), attributes.end());
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
    return build(attributes, {});
}

Botan::X509_DN build_requested_subject(const Botan::X509_DN& requested) {
    std::vector<Botan::ASN1_Tag> string_types;
    for (const auto& [oid, value] : requested.dn_info()) string_types.push_back(value.tagging());
    return build(attributes_of(requested), string_types);
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
