// ca/issuer_identity.h — the issuing CA's key and certificates, and the checks that make a
// certificate fit to be installed as the issuing CA.
#pragma once

#include <botan/pk_keys.h>
#include <botan/x509cert.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ca/clock.h"
#include "ca/trust_bundle.h"

namespace edgeca::ca {

// Text made once, on first use, by whichever thread asks first. A copy starts empty: it may
// belong to an identity that is then changed.
class OnceText {
public:
    OnceText() = default;
    OnceText(const OnceText&) {}
    OnceText& operator=(const OnceText&) { return *this; }
    template <typename Make>
    const std::string& get(Make make) const {
        std::call_once(once_, [&] { text_ = make(); });
        return text_;
    }

private:
    mutable std::once_flag once_;
    mutable std::string text_;
};

struct IssuerIdentity {
    std::shared_ptr<const Botan::Private_Key> key;
    Botan::X509_Certificate certificate;  // the issuing CA
    Botan::X509_Certificate root;         // the offline root that certified it
    // The roots in use and the links between them (edgeca trust add); the root alone when no
    // rollover is under way.
    TrustBundle trust;
    // Which of the authority's issuing CAs this is (store::IssuerRecord::id): 1 for the one
    // edgeca install put in place, N for the one activated N-th.
    int64_t id = 1;

    // PEM of the issuing CA, the link certificates that certify the root, then the root: what
    // a client trusting the root, or during a rollover another root in `trust`, needs to build
    // the path. Made on the first call and kept (every issuance answers with it): an identity's
    // certificates are not changed once it is in use (the authority holds it const); a copy
    // makes its own.
    const std::string& chain_pem() const;

    // What chain_pem() made, not part of the identity: a copy starts without it.
    OnceText chain_pem_made;
};

// The CRL distribution points of issuer `id`: the configured ones for issuer 1 (what its
// certificates already carry), each followed by "/N" for issuer N (/crl becomes /crl/N).
std::vector<std::string> issuer_crl_urls(const std::vector<std::string>& configured, int64_t id);

// Refuses, naming the reason, anything but: a root that is a self-signed CA certificate; an
// issuing-CA certificate whose public key is `expected_spki` (RSA 2048), that is a CA with
// pathLen 0 and keyCertSign + cRLSign, issued by the root's subject and signed by the root's
// key, and valid at `now`. Throws Error(bad_input | policy).
void check_issuing_ca_certificate(const Botan::X509_Certificate& certificate,
                                  const Botan::X509_Certificate& root,
                                  const std::vector<uint8_t>& expected_spki, Time now);

// Reads exactly one PEM certificate from `text`; `what` names it in errors.
Botan::X509_Certificate parse_certificate_pem(const std::string& text, std::string_view what);

}  // namespace edgeca::ca
