// crl/issuer_crls.h — one CrlPublisher per issuing CA that is not retired: each its own CRL
// number sequence, signer lease, files and URL.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "ca/issuer_identity.h"
#include "crl/crl_publisher.h"

namespace edgeca::crl {

class IssuerCrls {
public:
    // Issuer 1 keeps its files in `directory` (crl.der, crl.pem, as before several issuers);
    // issuer N in `directory`/N. `schedule` is every publisher's, but for the issuer id.
    IssuerCrls(store::Store& store, const ca::Clock& clock, Botan::RandomNumberGenerator& rng,
               std::filesystem::path directory, CrlSchedule schedule);

    // Starts publishing `issuer`'s CRLs (a no-op when it is published already).
    void add(std::shared_ptr<const ca::IssuerIdentity> issuer);
    // Stops publishing issuer `id`'s CRLs (it was retired); its files stay as they are.
    void remove(int64_t id);
    bool has(int64_t id) const;
    // The ids published, in order.
    std::vector<int64_t> ids() const;

    // Issuer `id`'s CRL being served; null when it has none or is not published here.
    std::shared_ptr<const PublishedCrl> current(int64_t id) const;
    // Every published issuer's CRL PEM, in issuer order: a crlfile for mosquitto or a hub.
    std::string all_pem() const;
    // Every published issuer's certificate PEM, in issuer order.
    std::string issuers_pem() const;
    // Whether this node holds issuer `id`'s signer lease.
    bool signer(int64_t id) const;

    // Ticks every publisher; returns how long until the next tick is needed. A revocation is
    // noticed by its issuer's publisher alone, through that issuer's revocation counter: tick
    // soon after one (the service wakes its maintenance thread).
    std::chrono::milliseconds tick();

private:
    struct Entry {
        std::shared_ptr<const ca::IssuerIdentity> issuer;
        std::unique_ptr<CrlPublisher> publisher;
    };
    std::vector<std::shared_ptr<Entry>> entries() const;
    std::shared_ptr<Entry> entry(int64_t id) const;

    store::Store& store_;
    const ca::Clock& clock_;
    Botan::RandomNumberGenerator& rng_;
    std::filesystem::path directory_;
    CrlSchedule schedule_;

    mutable std::mutex mutex_;
    std::map<int64_t, std::shared_ptr<Entry>> entries_;
};

}  // namespace edgeca::crl
