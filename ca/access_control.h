// ca/access_control.h — who may call the API: client certificates on the access list, and
// one-time enrollment tokens that put a new certificate on it.
#pragma once

#include <botan/rng.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "ca/caller.h"
#include "ca/clock.h"
#include "store/store.h"

namespace edgeca::ca {

class AccessControl {
public:
    AccessControl(store::Store& store, const Clock& clock, Botan::RandomNumberGenerator& rng)
        : store_(store), clock_(clock), rng_(rng) {}

    // A new one-time token ("ect_" + 43 base64url characters, 256 random bits), shown once:
    // only its SHA-256 is stored. Admins only.
    std::string create_token(const Caller& caller, store::Role role, std::chrono::seconds ttl);

    // The caller a verified client certificate speaks for: on the access list, and its
    // certificate still valid in the store. nullopt otherwise.
    std::optional<Caller> caller_for_certificate(const std::string& fingerprint_sha256) const;

    // Admins only. Grants the certificate with this fingerprint (one this CA issued) a role, as
    // the principal "<role>:<name>", or a fresh "<role>:<random id>" without a name.
    store::AccessGrant grant(const Caller& caller, const std::string& fingerprint_sha256,
                             store::Role role, const std::optional<std::string>& name);
    // Admins only. False when the fingerprint had no grant.
    bool revoke(const Caller& caller, const std::string& fingerprint_sha256);
    std::vector<store::AccessGrant> grants() const;

private:
    store::Store& store_;
    const Clock& clock_;
    Botan::RandomNumberGenerator& rng_;
};

}  // namespace edgeca::ca
