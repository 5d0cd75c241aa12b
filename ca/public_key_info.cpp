// ca/public_key_info.cpp — decoding a SubjectPublicKeyInfo with Botan's BER decoder.
#include "ca/public_key_info.h"

#include <botan/ber_dec.h>
#include <botan/oids.h>

#include "ca/errors.h"

namespace edgeca::ca {
namespace {

const Botan::OID rsa_encryption("1.2.840.113549.1.1.1");

}  // namespace

PublicKeyInfo PublicKeyInfo::decode(std::span<const uint8_t> spki) {
    PublicKeyInfo info;
    info.der.assign(spki.begin(), spki.end());
    try {
        Botan::AlgorithmIdentifier algorithm;
        Botan::BER_Decoder(spki.data(), spki.size())
            .start_cons(Botan::SEQUENCE)
            .decode(algorithm)
            .decode(info.key_bits, Botan::BIT_STRING)
            .end_cons()
            .verify_end();
        info.algorithm = algorithm.get_oid();
        info.algorithm_name = Botan::OIDS::oid2str_or_empty(info.algorithm);
        if (info.algorithm_name.empty()) info.algorithm_name = info.algorithm.to_string();
        if (info.algorithm == rsa_encryption) {
            Botan::BigInt n, e;
            Botan::BER_Decoder(info.key_bits)
                .start_cons(Botan::SEQUENCE)
                .decode(n)
                .decode(e)
                .end_cons()
                .verify_end();
            info.algorithm_name = "RSA";
            info.modulus = n;
            info.exponent = e;
        }
    } catch (const Botan::Exception&) {
        throw Error(ErrorKind::bad_input, "key_malformed", "the public key is not a valid SubjectPublicKeyInfo");
    }
    return info;
}

PublicKeyInfo PublicKeyInfo::of(const Botan::Public_Key& key) { return decode(key.subject_public_key()); }

}  // namespace edgeca::ca
