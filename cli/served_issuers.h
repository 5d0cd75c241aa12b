// cli/served_issuers.h — what a running service does about the issuers table: loads every
// issuing CA that is not retired, publishes its CRLs, signs with the newest, and follows
// edgeca issuer activate / retire without a restart.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "ca/issuing_authority.h"
#include "cli/issuer_directory.h"
#include "crl/issuer_crls.h"

namespace edgeca::cli {

class ServedIssuers {
public:
    // `first` is issuer 1, loaded already (its key may be in a token); the others are loaded
    // from issuers/N with `passphrase`. `on_loaded` hears of each issuer loaded after issuer 1
    // (its client certificates must be accepted too).
    ServedIssuers(const IssuerDirectory& d, store::Store& store, ca::IssuingAuthority& authority,
                  crl::IssuerCrls& crls, const ca::IssuerIdentity& first, std::string passphrase,
                  ca::SigningBackend backend, std::function<void(const ca::IssuerIdentity&)> on_loaded);

    // Reads the issuers table and catches up: at start, then at every maintenance tick (a
    // handful of rows). An issuer that cannot be loaded is logged and left out; the one
    // active before stays active, so no request fails for it.
    void sync();

private:
    std::shared_ptr<const ca::IssuerIdentity> load(const store::IssuerRecord& record);

    const IssuerDirectory& d_;
    store::Store& store_;
    ca::IssuingAuthority& authority_;
    crl::IssuerCrls& crls_;
    std::shared_ptr<const ca::IssuerIdentity> first_;
    std::string passphrase_;
    ca::SigningBackend backend_;
    std::function<void(const ca::IssuerIdentity&)> on_loaded_;
    std::map<int64_t, std::shared_ptr<const ca::IssuerIdentity>> loaded_;
    std::set<int64_t> failed_;  // logged once
};

}  // namespace edgeca::cli
