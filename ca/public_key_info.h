// ca/public_key_info.h — what the policy needs to know of a public key, read from its DER
// SubjectPublicKeyInfo without loading it: Botan's RSA key objects precompute Montgomery
// parameters on load (about 250 us here), which the policy and the key identifier never need.
#pragma once

#include <botan/asn1_obj.h>
#include <botan/bigint.h>
#include <botan/pk_keys.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace edgeca::ca {

struct PublicKeyInfo {
    std::vector<uint8_t> der;         // the SubjectPublicKeyInfo
    Botan::OID algorithm;
    std::string algorithm_name;       // "RSA", "ECDSA", "Ed25519"... or the OID
    std::vector<uint8_t> key_bits;    // the subjectPublicKey BIT STRING's content
    std::optional<Botan::BigInt> modulus;   // RSA only
    std::optional<Botan::BigInt> exponent;  // RSA only

    // Throws Error(bad_input, "key_malformed") for DER that is not a SubjectPublicKeyInfo, or
    // an RSA key whose RSAPublicKey cannot be read.
    static PublicKeyInfo decode(std::span<const uint8_t> spki);
    static PublicKeyInfo of(const Botan::Public_Key& key);
};

}  // namespace edgeca::ca
