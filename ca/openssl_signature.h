// ca/openssl_signature.h — Botan's signature operation made by OpenSSL, for any key whose
// private half OpenSSL can reach: a key in memory or one held by a PKCS#11 token.
#pragma once

#include <botan/pk_ops.h>
#include <openssl/evp.h>

#include <memory>

namespace edgeca::ca {

// SHA-256 and RSASSA-PKCS1-v1_5 ("EMSA3(SHA-256)") with `key`, which must outlive the
// operation. Failures throw Error(internal, "signing_failed") with OpenSSL's reason.
std::unique_ptr<Botan::PK_Ops::Signature> openssl_sha256_signature(EVP_PKEY* key);

}  // namespace edgeca::ca
