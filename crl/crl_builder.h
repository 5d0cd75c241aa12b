// crl/crl_builder.h — X.509 v2 CRLs built entry by entry from the store's revocation rows and
// signed with the CA key: the number, the entries and the extensions are all ours.
#pragma once

#include <botan/pk_keys.h>
#include <botan/rng.h>
#include <botan/x509cert.h>

#include <cstdint>
#include <vector>

#include "ca/clock.h"
#include "store/records.h"

namespace edgeca::crl {

class CrlBuilder {
public:
    // `issuer` is the CA certificate whose key signs: its subject becomes the CRL's issuer
    // (byte for byte) and its Subject Key Identifier the Authority Key Identifier.
    // Every CRL is complete (all the issuer's revoked certificates, every reason), so it has no
    // Issuing Distribution Point (RFC 5280 5.2.5): that extension is critical, and Mbed TLS,
    // the EnOS C SDK's TLS stack, refuses to load a CRL with any critical extension.
    CrlBuilder(const Botan::X509_Certificate& issuer, const Botan::Private_Key& key);

    // Adds one revoked certificate. reasonCode is written for every reason but unspecified,
    // which RFC 5280 asks to leave out; an entry without a reason has no extensions at all.
    void add(const store::RevokedEntry& entry);
    size_t entries() const { return count_; }

    // The signed CRL (DER): version 2, sha256WithRSAEncryption, thisUpdate, nextUpdate,
    // revokedCertificates (left out when empty), and the extensions Authority Key Identifier
    // and CRL Number, neither critical.
    std::vector<uint8_t> sign(int64_t number, ca::Time this_update, ca::Time next_update,
                              Botan::RandomNumberGenerator& rng) const;

private:
    const Botan::X509_Certificate& issuer_;
    const Botan::Private_Key& key_;
    std::vector<uint8_t> encoded_entries_;  // the content of revokedCertificates
    std::vector<uint8_t> scratch_;          // one entry's fields, reused
    size_t count_ = 0;
};

}  // namespace edgeca::crl
