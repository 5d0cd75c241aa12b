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

// Signs `content` as `issuer` with sha256WithRSAEncryption (RSASSA-PKCS1-v1_5, SHA-256).
// The extensions are exactly `content.extensions`: this never goes through
// Botan::X509_CA::sign_request, which copies a CSR's extensions.
Botan::X509_Certificate sign_certificate(const CertificateContent& content,
                                         const Botan::X509_DN& issuer,
                                         const Botan::Private_Key& issuer_key,
                                         Botan::RandomNumberGenerator& rng);

}  // namespace edgeca::ca
