// ca/trust_bundle.h — the roots in use during a root rollover and the link certificates that
// chain each of them to the issuing CA's root: what the service publishes at /trust.pem.
#pragma once

#include <botan/x509cert.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ca/clock.h"

namespace edgeca::ca {

struct TrustBundle {
    std::vector<Botan::X509_Certificate> roots;  // self-signed; the first is the anchor
    std::vector<Botan::X509_Certificate> links;  // each certifies one root with another's key

    // The links that certify `root` (its subject and key): what a device trusting another
    // root needs to reach it.
    std::vector<Botan::X509_Certificate> links_to(const Botan::X509_Certificate& root) const;
    // PEM: the roots, then the links.
    std::string pem() const;
};

// Every CERTIFICATE block of `text`; at least one. Error(bad_input) naming `what` otherwise.
std::vector<Botan::X509_Certificate> parse_certificates_pem(std::string_view text,
                                                            std::string_view what);

// Sorts `certificates` (in any order, duplicates dropped) into roots and links around
// `anchor`, the issuing CA's root, and refuses, naming the certificate, anything a device
// could not follow: a certificate that is not a CA with keyCertSign; a self-signed one whose
// signature does not verify; a link not signed by the key of a root in the set under that
// root's name, or certifying no root in the set (same subject and key); a root no chain of
// links reaches from the anchor. With `now`, a link not valid at `now` is refused too
// (Error(policy, "link_not_current")); the service loads an installed bundle without it, so
// that a link expiring does not stop the service. Error(policy, "trust_bundle_invalid").
TrustBundle check_trust_bundle(const Botan::X509_Certificate& anchor,
                               const std::vector<Botan::X509_Certificate>& certificates,
                               std::optional<Time> now);

}  // namespace edgeca::ca
