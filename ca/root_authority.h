// ca/root_authority.h — the offline root: its self-signed certificate and the intermediates it
// certifies. Handed its store, clock and RNG; it opens no file and no socket of its own.
#pragma once

#include <botan/pk_keys.h>
#include <botan/rng.h>
#include <botan/x509cert.h>

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ca/certificate_signer.h"
#include "ca/clock.h"
#include "ca/distinguished_name.h"
#include "ca/profile.h"
#include "store/store.h"

namespace edgeca::ca {

class RootAuthority {
public:
    static constexpr int default_intermediate_days = 1825;
    static constexpr int max_validity_days = 36500;

    // Makes the self-signed root certificate for `key` and records it (and an audit entry) in
    // a new, empty store. Validity starts now and lasts `validity_days`.
    static Botan::X509_Certificate create(store::Store& store, const Botan::Private_Key& key,
                                          const std::vector<DnAttribute>& subject,
                                          int validity_days, const Clock& clock,
                                          Botan::RandomNumberGenerator& rng,
                                          const std::string& actor);

    RootAuthority(store::Store& store, const Clock& clock, Botan::RandomNumberGenerator& rng,
                  std::unique_ptr<Botan::Private_Key> key, Botan::X509_Certificate certificate);

    // Verifies the CSR (signature first, then RSA-2048, then the subject rules) and certifies
    // it as an issuing CA: CA:TRUE pathLen 0, keyCertSign + cRLSign, SKI, AKI, a fresh random
    // serial, validity clamped to the root's, and a CRL Distribution Point naming
    // intermediate_crl_urls() when there are any. The certificate is committed to the store
    // before it is returned. Every attempt, granted or refused, is an audit entry.
    Botan::X509_Certificate sign_intermediate(std::span<const uint8_t> csr,
                                              std::optional<int> validity_days,
                                              const std::string& actor);

    // A link certificate for a root rollover: `other` (a self-signed root, not this one) as
    // subject and key, this root as issuer; CA:TRUE without path length, keyCertSign +
    // cRLSign, SKI of the certified key, AKI of this root's. Valid from now until the earlier
    // of the two roots' notAfter: the overlap in which both are in use. Refuses another root
    // with this root's subject or key (Error(policy, "same_subject" | "same_key")). Committed
    // to the store before it is returned; every attempt is an audit entry ("link").
    Botan::X509_Certificate certify_link(const Botan::X509_Certificate& other, const std::string& actor);

    // Revokes an issuing-CA or link certificate the root signed (never the root itself). A second
    // revocation is Error(conflict, "already_revoked"). Audited, granted or refused.
    store::CertificateRecord revoke(std::span<const uint8_t> serial, int reason,
                                    const std::string& actor);

    // Where the root's CRL is published (the online service's /root.crl): written into every
    // issuing-CA certificate signed from now on. Kept in the root's store, so later ceremonies
    // reuse it; a change is an audit entry. Each URL passes check_crl_url.
    std::vector<std::string> intermediate_crl_urls() const;
    void set_intermediate_crl_urls(const std::vector<std::string>& urls, const std::string& actor);

    const Botan::X509_Certificate& certificate() const { return certificate_; }
    // The unlocked root key, for signing the root's CRL.
    const Botan::Private_Key& key() const { return *key_; }

private:
    // Signs `content` under a fresh serial (another on the practically impossible collision) and
    // records it, with an audit entry `action` whose detail is detail(record).
    Botan::X509_Certificate sign_and_record(CertificateContent content, Profile profile, const std::string& action,
                                            const std::string& actor,
                                            const std::function<std::string(const store::CertificateRecord&)>& detail);

    store::Store& store_;
    const Clock& clock_;
    Botan::RandomNumberGenerator& rng_;
    std::unique_ptr<Botan::Private_Key> key_;
    Botan::X509_Certificate certificate_;
};

// Checks a requested validity in days: 1..RootAuthority::max_validity_days.
void check_validity_days(int days);

// A CRL URL for a certificate: http:// (RFC 5280 4.2.1.13: HTTP, served as DER; an https URL
// would need a TLS check before revocation can be checked), printable ASCII, at most 1024
// characters. Error(bad_input, "crl_url_invalid") otherwise.
void check_crl_url(const std::string& url);

}  // namespace edgeca::ca
