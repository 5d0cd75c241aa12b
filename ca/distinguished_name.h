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
// "/C=CN/O=Acme/CN=Edge 7" into the attributes in encoding order: both examples give C, O, CN
// (RFC 4514 text is read from its end, the slash form as written). Throws Error(bad_input,
// "malformed_subject").
std::vector<DnAttribute> parse_distinguished_name(std::string_view text);

// The attributes of a DN read from a CSR or a certificate. Throws Error(policy,
// "subject_attribute_not_allowed") for any attribute type other than C, ST, L, O, OU, CN.
std::vector<DnAttribute> attributes_of(const Botan::X509_DN& dn);

// The subject rules: only C, ST, L, O, OU, CN, each at most once; CN required; C two letters
// A-Z; the others 1 to 64 characters of well-formed UTF-8 without control characters, NUL,
// invisible or direction-changing characters or noncharacters (see hidden_character_kind).
// Returns a fresh DN of one attribute per RDN, in the order given (brokers that map a subject
// to a user name see the requester's string), written as PrintableString when the value fits
// one, else UTF8String (C always PrintableString).
Botan::X509_DN build_subject(const std::vector<DnAttribute>& attributes);

// The same rules for a requested subject (a CSR's, or a renewed certificate's): its order, and
// its string types where they are PrintableString or UTF8String, are kept, so the subject is
// the request's byte for byte when it has one attribute per RDN. Other string types are
// written as above.
Botan::X509_DN build_requested_subject(const Botan::X509_DN& requested);

// RFC 4514 text: most specific first ("CN=Edge 7,O=Acme,C=CN"), special characters escaped.
std::string to_rfc4514(const Botan::X509_DN& dn);

std::string common_name_of(const Botan::X509_DN& dn);

}  // namespace edgeca::ca
