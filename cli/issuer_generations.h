// cli/issuer_generations.h — the issuing CAs of one directory across rotations: recording the
// first, finding the root that signed one, loading generation N for the service.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ca/issuer_identity.h"
#include "cli/issuer_directory.h"
#include "store/store.h"

namespace edgeca::cli {

// The store's issuer record for `certificate` as issuer `id`, activated at `now`.
store::IssuerRecord issuer_record(int64_t id, const Botan::X509_Certificate& certificate, ca::Time now);

// A store from before several issuers holds none: the installed issuing CA (issuer.pem) becomes
// issuer 1. Does nothing when there is one already, or when the directory is not installed.
void record_first_issuer(const IssuerDirectory& d, store::Store& store);

// The issuers not retired, oldest first; the last is the active one.
std::vector<store::IssuerRecord> current_issuers(store::Store& store);

// The roots of `trust` with the subject that issued `certificate` (a new issuing CA may be
// signed by the new root of a rollover).
std::vector<Botan::X509_Certificate> roots_named_by(const ca::TrustBundle& trust,
                                                   const Botan::X509_Certificate& certificate);

// Issuer `record` (id >= 2) ready to sign: its key from issuers/N/issuer.key under
// `passphrase`, signing with `backend`, its certificate from the record, the root of `trust`
// that signed it. Error when the key is missing or does not match.
ca::IssuerIdentity load_generation(const IssuerDirectory& d, const store::IssuerRecord& record,
                                   const ca::TrustBundle& trust, const std::string& passphrase,
                                   ca::SigningBackend backend);

}  // namespace edgeca::cli
