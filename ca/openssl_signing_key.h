// ca/openssl_signing_key.h — a CA key whose RSA signatures are made by OpenSSL's libcrypto.
// Botan keeps building and parsing every X.509 object; only the private-key operation moves,
// because OpenSSL's RSA is about four times faster here. RSASSA-PKCS1-v1_5 is deterministic, so
// both backends sign every certificate and CRL byte for byte alike. This is also where a
// PKCS#11 token would plug in. The offline root does not link it: it signs with Botan.
#pragma once

#include <botan/pk_keys.h>

#include <memory>
#include <string_view>

#include "ca/certificate_request.h"

namespace edgeca::ca {

enum class SigningBackend { botan, openssl };

std::string_view to_string(SigningBackend backend);

// Wraps an RSA private key so that its "EMSA3(SHA-256)" signatures are made with OpenSSL;
// everything else (public key, decryption, encoding) stays Botan's. With Backend::botan the
// key is returned as it is.
std::shared_ptr<const Botan::Private_Key> signing_key(std::shared_ptr<const Botan::Private_Key> key,
                                                     SigningBackend backend);

// Verifies RSASSA-PKCS1-v1_5 CSR signatures (SHA-1/256/384/512) with OpenSSL; leaves other
// schemes, and RSA keys that cannot be valid, to Botan (which reports them precisely).
SignatureVerifier openssl_signature_verifier();

}  // namespace edgeca::ca
