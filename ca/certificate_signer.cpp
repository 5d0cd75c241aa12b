// ca/certificate_signer.cpp — the single place where certificates are signed.
#include "ca/certificate_signer.h"

#include <botan/der_enc.h>
#include <botan/pubkey.h>
#include <botan/x509_obj.h>

namespace edgeca::ca {

// The TBSCertificate is encoded as Botan's X509_CA::make_cert encodes it (version v3, serial,
// signature algorithm, issuer, validity, subject, the SPKI as given, extensions), signed over
// its bytes, and wrapped as X509_Object::make_signed wraps it. make_cert then parses the result
// into an X509_Certificate, which cost about as much as building it; the issuer reads what it
// records from the content it already has (record_of in certificate_facts.h).
std::vector<uint8_t> sign_certificate_der(const CertificateContent& content,
                                          const Botan::X509_DN& issuer,
                                          const Botan::Private_Key& issuer_key,
                                          Botan::RandomNumberGenerator& rng) {
    Botan::AlgorithmIdentifier signature_algorithm;
    auto signer = Botan::X509_Object::choose_sig_format(signature_algorithm, issuer_key, rng,
                                                        "SHA-256", "EMSA3(SHA-256)");
    constexpr size_t version_v3 = 2;
    std::vector<uint8_t> tbs;
    Botan::DER_Encoder(tbs)
        .start_cons(Botan::SEQUENCE)
        .start_explicit(0)
        .encode(version_v3)
        .end_explicit()
        .encode(content.serial.to_bigint())
        .encode(signature_algorithm)
        .encode(issuer)
        .start_cons(Botan::SEQUENCE)
        .encode(Botan::X509_Time(content.not_before))
        .encode(Botan::X509_Time(content.not_after))
        .end_cons()
        .encode(content.subject)
        .raw_bytes(content.subject_public_key_info)
        .start_explicit(3)
        .start_cons(Botan::SEQUENCE)
        .encode(content.extensions)
        .end_cons()
        .end_explicit()
        .end_cons();
    const std::vector<uint8_t> signature = signer->sign_message(tbs, rng);

    std::vector<uint8_t> der;
    der.reserve(tbs.size() + signature.size() + 32);
    Botan::DER_Encoder(der)
        .start_cons(Botan::SEQUENCE)
        .raw_bytes(tbs)
        .encode(signature_algorithm)
        .encode(signature, Botan::BIT_STRING)
        .end_cons();
    return der;
}

Botan::X509_Certificate sign_certificate(const CertificateContent& content,
                                         const Botan::X509_DN& issuer,
                                         const Botan::Private_Key& issuer_key,
                                         Botan::RandomNumberGenerator& rng) {
    return Botan::X509_Certificate(sign_certificate_der(content, issuer, issuer_key, rng));
}

}  // namespace edgeca::ca
