// ca/issuing_authority.h — the online issuing CA: decides, signs and records certificates for
// the hub, its edge devices, API clients and the service itself.
#pragma once

#include <botan/rng.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ca/caller.h"
#include "ca/certificate_request.h"
#include "ca/clock.h"
#include "ca/issuance_policy.h"
#include "ca/issuer_identity.h"
#include "ca/profile.h"
#include "store/store.h"

namespace edgeca::ca {

struct IssuanceRequest {
    std::vector<uint8_t> csr;  // as received: one PEM block or one DER object
    Profile profile = Profile::edge;
    std::optional<std::string> product_key;  // edge only
    std::optional<std::string> device_key;   // edge only
    std::optional<std::string> asset_id;     // edge only; must match the registered device
    std::optional<int> validity_days;        // default: the profile's (or the product's) default
    std::optional<std::string> idempotency_key;
    std::optional<std::string> enrollment_token;  // a one-time token: the caller enrols
    std::optional<store::Role> grant_role;  // client profile, admin caller: API access to grant
    std::vector<std::string> server_names;  // server profile: DNS names and IP addresses
    // A renewal of this edge certificate (serial), which must be valid and bound to
    // `device_key`; with an empty `csr`, its key and subject are certified again.
    std::optional<std::vector<uint8_t>> renewal_of;
};

struct IssuedCertificate {
    store::CertificateRecord record;
    std::string certificate_pem;
    bool replayed = false;  // an earlier answer to the same idempotent request
    // The principal the certificate gives API access to, when it gives any (assigned by the CA,
    // never taken from the CSR).
    std::optional<std::string> principal;
    // The issuing CA that signed it (the active one at the time), whose chain_pem() goes with
    // the certificate; its PEM is made only by a caller that sends it.
    std::shared_ptr<const IssuerIdentity> issuer;
};

class IssuingAuthority {
public:
    // `verifier` checks CSR signatures (empty: Botan's own).
    IssuingAuthority(store::Store& store, const Clock& clock, Botan::RandomNumberGenerator& rng,
                     IssuancePolicy policy, IssuerIdentity issuer, SignatureVerifier verifier = {});

    // The whole issuance: authorisation, the CSR's proof of possession, the key policy, the
    // subject rules, the profile's rules (device binding, DNS names, validity), the clock
    // guard, then signing with a fresh serial. The certificate, its device binding, any access
    // grant and the audit entry are committed in one durable transaction before this returns.
    // A refusal throws Error and is itself an audit entry.
    IssuedCertificate issue(const Caller& caller, const IssuanceRequest& request);

    // What a caller may see: an admin everything, a hub only what it requested. A record the
    // caller may not see is reported as not found.
    std::optional<store::CertificateRecord> certificate(const Caller& caller,
                                                        std::span<const uint8_t> serial) const;
    std::vector<store::CertificateRecord> certificates(const Caller& caller,
                                                       store::CertificateFilter filter) const;

    // The active issuing CA: what new certificates are signed with. A copy of the pointer, so
    // that a rotation (use_issuer) never pulls it from under a request in flight.
    std::shared_ptr<const IssuerIdentity> issuer() const;
    // Makes `issuer` the active issuing CA: requests that start from now on are signed with it.
    void use_issuer(IssuerIdentity issuer);
    // Makes an issuing CA that is not the active one known, so that an idempotent repeat of a
    // request it answered is answered with its chain.
    void know_issuer(std::shared_ptr<const IssuerIdentity> issuer);
    const IssuancePolicy& policy() const { return policy_; }

private:
    struct Decision;
    // decide() runs the named checks below in order; each throws Error with its own refusal.
    Decision decide(const Caller& caller, const IssuanceRequest& request, Time now);
    std::optional<store::EnrollmentToken> check_caller(const Caller& caller,
                                                       const IssuanceRequest& request,
                                                       Time now) const;
    void check_key_and_subject(const Caller& caller, const IssuanceRequest& request,
                               Decision& decision, Time now) const;
    void check_device(const Caller& caller, const IssuanceRequest& request,
                      Decision& decision) const;
    void check_hub_names(const Caller& caller, const IssuanceRequest& request,
                         Decision& decision) const;
    void check_validity(const IssuanceRequest& request, Decision& decision, Time now) const;
    void assign_principal(const Caller& caller, const IssuanceRequest& request,
                          const std::optional<store::EnrollmentToken>& token,
                          Decision& decision);
    IssuedCertificate sign_and_record(const Caller& caller, const IssuanceRequest& request,
                                      const Decision& decision, Time now);
    void check_clock(Time now, const IssuerIdentity& issuer) const;
    store::CertificateRecord renewal_original(const Caller& caller, const IssuanceRequest& request,
                                              Time now) const;
    std::optional<std::string> principal_of(const store::CertificateRecord& record) const;

    store::Store& store_;
    const Clock& clock_;
    Botan::RandomNumberGenerator& rng_;
    IssuancePolicy policy_;
    // Issuing CA `id` when it is known, else `active`.
    std::shared_ptr<const IssuerIdentity> issuer_of(int64_t id, std::shared_ptr<const IssuerIdentity> active) const;

    mutable std::mutex issuer_mutex_;
    std::shared_ptr<const IssuerIdentity> issuer_;
    std::map<int64_t, std::shared_ptr<const IssuerIdentity>> known_issuers_;
    SignatureVerifier verifier_;
};

// The SHA-256 (hex) under which an enrollment token is stored.
std::string token_digest(const std::string& token);
// A fresh principal for an identity an admin creates: "<role>:" and 16 random hex digits.
std::string new_principal_name(store::Role role, Botan::RandomNumberGenerator& rng);

}  // namespace edgeca::ca
