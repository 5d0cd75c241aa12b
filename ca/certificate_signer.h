// ca/certificate_signer.h — turns decided content into a signed certificate with a CA key.
#pragma once

#include <botan/pk_keys.h>
#include <botan/pkix_types.h>
#include <botan/rng.h>
#include <botan/x509cert.h>

#include <vector>

#include "ca/clock.h"
#include "ca/serial_number.h"

namespace edgeca::ca {

// Everything a certificate says, decided by the engine before anything is signed.
struct CertificateContent {
    SerialNumber serial;
    Botan::X509_DN subject;
    std::vector<uint8_t> subject_public_key_info;  // DER SPKI
    Time not_before;
    Time not_after;
    Botan::Extensions extensions;
};

// Signs `content` as `issuer` with sha256WithRSAEncryption (RSASSA-PKCS1-v1_5, SHA-256) and
// returns the certificate's DER, built directly and never parsed back. The extensions are
// exactly `content.extensions`: this never goes through Botan::X509_CA::sign_request, which
// copies a CSR's extensions. The bytes are those Botan::X509_CA::make_cert gives for the same
// content (tests/unit/test_certificate_signer.cpp).
std::vector<uint8_t> sign_certificate_der(const CertificateContent& content,
                                          const Botan::X509_DN& issuer,
                                          const Botan::Private_Key& issuer_key,
                                          Botan::RandomNumberGenerator& rng);

// The same, parsed, for callers that go on using the certificate object (the offline root).
Botan::X509_Certificate sign_certificate(const CertificateContent& content,
                                         const Botan::X509_DN& issuer,
                                         const Botan::Private_Key& issuer_key,
                                         Botan::RandomNumberGenerator& rng);

}  // namespace edgeca::ca
