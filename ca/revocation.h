// ca/revocation.h — revoking the issuing CA's certificates: who may, and what it changes.
// Revocation signs nothing; the CRL that lists it is crl/'s work.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "ca/caller.h"
#include "ca/clock.h"
#include "store/store.h"

namespace edgeca::ca {

class Revoker {
public:
    Revoker(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

    // Revokes one certificate: admins any, a hub those it requested or that are granted to its
    // principal (others are "not found").
    // A second revocation is Error(conflict, "already_revoked") and changes nothing. For
    // keyCompromise every valid certificate of the same key is revoked with it, and the key
    // is never certified again. Revoking a hub's certificate (other than as superseded, or a
    // hub retiring one of its own client certificates) revokes every valid certificate granted
    // to the hub's principal with it. Returns the records revoked, the named one first. Each is
    // an audit entry, and so is a refusal.
    std::vector<store::CertificateRecord> revoke(const Caller& caller,
                                                 std::span<const uint8_t> serial, int reason);
    // Revokes every valid certificate of a device that the caller may revoke (an edge reset).
    // A hub may reset only its own devices (and unowned ones); others are "not found".
    std::vector<store::CertificateRecord> revoke_device(const Caller& caller,
                                                        const std::string& device_key, int reason);
    // Called after every committed revocation (the CRL publisher listens).
    void on_revocation(std::function<void()> listener) { listener_ = std::move(listener); }

private:
    store::Store& store_;
    const Clock& clock_;
    std::function<void()> listener_;
};

}  // namespace edgeca::ca
