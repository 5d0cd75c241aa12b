// ca/certificate_signer.cpp — the single place where certificates are signed.
#include "ca/certificate_signer.h"

#include <botan/pubkey.h>
#include <botan/x509_ca.h>
#include <botan/x509_obj.h>

namespace edgeca::ca {

Botan::X509_Certificate sign_certificate(const CertificateContent& content,
                                         const Botan::X509_DN& issuer,
                                         const Botan::Private_Key& issuer_key,
                                         Botan::RandomNumberGenerator& rng) {
    Botan::AlgorithmIdentifier signature_algorithm;
    auto signer = Botan::X509_Object::choose_sig_format(signature_algorithm, issuer_key, rng,
                                                        "SHA-256", "EMSA3(SHA-256)");
    return Botan::X509_CA::make_cert(
        signer.get(), rng, content.serial.to_bigint(), signature_algorithm,
        content.subject_public_key_info, Botan::X509_Time(content.not_before),
        Botan::X509_Time(content.not_after), issuer, content.subject, content.extensions);
}

}  // namespace edgeca::ca
