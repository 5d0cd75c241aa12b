// crl/crl_publisher.h — when a CRL is signed, where it is kept, and the copy that is served.
#pragma once

#include <botan/pk_keys.h>
#include <botan/rng.h>
#include <botan/x509cert.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ca/clock.h"
#include "store/store.h"

namespace edgeca::crl {

struct PublishedCrl {
    int64_t number = 0;
    ca::Time this_update{};
    ca::Time next_update{};
    int64_t entries = 0;
    int64_t revocations = 0;  // the store's revocation counter of its issuer that it covers
    std::vector<uint8_t> der;
    std::string pem;
};

// Builds a CRL from every revoked, unexpired certificate in `store`, signs it with `key`
// as `issuer`, takes the next CRL number, and commits it to the CRL history (with an audit
// entry by `actor`) before returning it. A number another process took meanwhile is skipped:
// numbers only grow and are never used twice.
PublishedCrl sign_crl(store::Store& store, const Botan::X509_Certificate& issuer,
                      const Botan::Private_Key& key, ca::Time this_update,
                      ca::Time next_update, int history, Botan::RandomNumberGenerator& rng,
                      const std::string& actor, int64_t issuer_id = 1);

// The lease under which nodes sign issuer `issuer_id`'s CRLs: "crl-signer" for issuer 1 (as
// before several issuers), "crl-signer/N" for issuer N.
std::string signer_lease_name(int64_t issuer_id);

// The PEM of a CRL's DER ("X509 CRL", 64 characters a line).
std::string crl_pem(const std::vector<uint8_t>& der);

// Writes crl.der and crl.pem into `directory`, each atomically.
void write_crl_files(const std::filesystem::path& directory, const PublishedCrl& crl);

struct CrlSchedule {
    std::chrono::seconds publish_delay{5};
    std::chrono::seconds validity{std::chrono::hours(24)};
    std::chrono::seconds refresh_before{std::chrono::hours(8)};
    int history = 100;
    // Nodes sharing a store sign under the store's lease "crl-signer", held by `node` for
    // `lease` and renewed at every tick; the others serve what it signs.
    std::string node = "edgeca";
    std::chrono::seconds lease{30};
    // Whose CRLs: each issuer has its own number sequence, lease and files.
    int64_t issuer_id = 1;
};

// Keeps the issuing CA's CRL fresh: a new one at most `publish_delay` after a revocation
// (revocations in a burst share it), and before nextUpdate comes within `refresh_before` even
// when nothing changed. Revocations made by another process on the same store (the CLI, another
// node) are noticed through the store's revocation counter. Of several nodes on one store, only
// the holder of the signer lease signs; every node serves the newest CRL in the store, and when
// the signer dies another takes the lease once it expires.
class CrlPublisher {
public:
    CrlPublisher(store::Store& store, const ca::Clock& clock, Botan::RandomNumberGenerator& rng,
                 const Botan::X509_Certificate& issuer, const Botan::Private_Key& key,
                 std::filesystem::path directory, CrlSchedule schedule);

    // Loads the newest CRL of the store, or signs one when it is missing, stale or behind.
    void start();
    // An in-process revocation: the next CRL is due within publish_delay.
    void note_revocation();
    // Publishes if a CRL is due; returns how long until the next check is needed.
    std::chrono::milliseconds tick();
    std::shared_ptr<const PublishedCrl> current() const;
    // Whether this node held the signer lease at its last tick.
    bool signer() const;

private:
    // Takes or renews the signer lease; false while another node holds it.
    bool renew_lease();
    void publish();
    // Serves the newest CRL of the store when it is newer than the one served, covers every
    // revocation and is not due for a refresh. True when it did.
    bool adopt_newer_from_store();
    bool needs_refresh(const PublishedCrl& crl, ca::Time now) const;

    store::Store& store_;
    const ca::Clock& clock_;
    Botan::RandomNumberGenerator& rng_;
    const Botan::X509_Certificate& issuer_;
    const Botan::Private_Key& key_;
    std::filesystem::path directory_;
    CrlSchedule schedule_;

    mutable std::mutex mutex_;
    std::shared_ptr<const PublishedCrl> current_;
    std::optional<std::chrono::steady_clock::time_point> due_;
    bool signer_ = false;
};

}  // namespace edgeca::crl
