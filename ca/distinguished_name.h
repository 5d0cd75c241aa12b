// ca/distinguished_name.h — subjects: parsing them from text, validating them, writing them out.
#pragma once

#include <botan/pkix_types.h>

#include <string>
#include <string_view>
#include <vector>

namespace edgeca::ca {

// One attribute of a subject; `key` is one of C, ST, L, O, OU, CN.
struct DnAttribute {
    std::string key;
    std::string value;  // UTF-8
    bool operator==(const DnAttribute&) const = default;
};

// Parses "CN=Edge 7,O=Acme,C=CN" (RFC 4514, commas escaped as "\,") or OpenSSL's
// "/C=CN/O=Acme/CN=Edge 7". Throws Error(bad_input, "malformed_subject").
std::vector<DnAttribute> parse_distinguished_name(std::string_view text);

// The attributes of a DN read from a CSR or a certificate. Throws Error(policy,
// "subject_attribute_not_allowed") for any attribute type other than C, ST, L, O, OU, CN.
std::vector<DnAttribute> attributes_of(const Botan::X509_DN& dn);

// The subject rules: only C, ST, L, O, OU, CN, each at most once; CN required; C two letters
// A-Z; the others 1 to 64 characters without control characters or NUL. Returns a fresh DN in
// the canonical order C, ST, L, O, OU, CN, so nothing of the request's encoding is carried over.
Botan::X509_DN build_subject(const std::vector<DnAttribute>& attributes);

// RFC 4514 text: most specific first ("CN=Edge 7,O=Acme,C=CN"), special characters escaped.
std::string to_rfc4514(const Botan::X509_DN& dn);

std::string common_name_of(const Botan::X509_DN& dn);

}  // namespace edgeca::ca
