// ca/extensions.h — the extensions of each profile, built from scratch: nothing from a CSR.
#pragma once

#include <botan/pk_keys.h>
#include <botan/pkix_types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ca/ip_network.h"
#include "ca/profile.h"
#include "ca/public_key_info.h"

namespace edgeca::ca {

struct ExtensionInputs {
    Profile profile = Profile::edge;
    std::vector<uint8_t> subject_key_id;
    std::vector<uint8_t> authority_key_id;       // empty for the self-signed root
    std::vector<std::string> dns_names;          // subjectAltName, hub and server only
    std::vector<IpAddress> ip_addresses;         // subjectAltName, hub and server only
    std::vector<std::string> crl_urls;           // CRL Distribution Points, not the root
    std::vector<std::string> ca_issuer_urls;     // AIA caIssuers, leaves only
};

// root: basicConstraints critical CA:TRUE; keyUsage critical keyCertSign, cRLSign; SKI.
// link: as root, plus AKI (the signing root's SKI); SKI is the certified root's.
// intermediate: basicConstraints critical CA:TRUE pathLen 0; keyUsage critical keyCertSign,
//   cRLSign; SKI; AKI; CRL DP (the root CRL's URLs) when given.
// edge / hub / client / server: basicConstraints critical CA:FALSE; keyUsage critical
//   digitalSignature, keyEncipherment; EKU clientAuth (edge, client), serverAuth + clientAuth
//   (hub), serverAuth (server); SKI; AKI; subjectAltName (hub, server: DNS names, then IP
//   addresses); CRL DP; AIA caIssuers.
Botan::Extensions profile_extensions(const ExtensionInputs& inputs);

// RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING's content.
std::vector<uint8_t> key_identifier(const PublicKeyInfo& key);
std::vector<uint8_t> key_identifier(const Botan::Public_Key& key);

}  // namespace edgeca::ca
