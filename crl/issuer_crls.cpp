// crl/issuer_crls.cpp — the CRL publishers of every issuing CA not retired.
#include "crl/issuer_crls.h"

#include <algorithm>

#include "ca/encoding.h"

namespace edgeca::crl {

IssuerCrls::IssuerCrls(store::Store& store, const ca::Clock& clock, Botan::RandomNumberGenerator& rng,
                       std::filesystem::path directory, CrlSchedule schedule)
    : store_(store), clock_(clock), rng_(rng), directory_(std::move(directory)), schedule_(schedule) {}

void IssuerCrls::add(std::shared_ptr<const ca::IssuerIdentity> issuer) {
    if (has(issuer->id)) return;
    auto schedule = schedule_;
    schedule.issuer_id = issuer->id;
    auto directory = issuer->id == 1 ? directory_ : directory_ / std::to_string(issuer->id);
    auto added = std::make_shared<Entry>();
    added->issuer = std::move(issuer);
    added->publisher = std::make_unique<CrlPublisher>(store_, clock_, rng_, added->issuer->certificate,
                                                      *added->issuer->key, directory, schedule);
    // Signed (or adopted) before it is served: a new issuer's URL never answers 503 for long.
    added->publisher->start();
    std::lock_guard lock(mutex_);
    entries_.emplace(added->issuer->id, std::move(added));
}

void IssuerCrls::remove(int64_t id) {
    std::lock_guard lock(mutex_);
    entries_.erase(id);
}

bool IssuerCrls::has(int64_t id) const { return entry(id) != nullptr; }

std::vector<int64_t> IssuerCrls::ids() const {
    std::lock_guard lock(mutex_);
    std::vector<int64_t> ids;
    for (const auto& [id, _] : entries_) ids.push_back(id);
    return ids;
}

std::shared_ptr<IssuerCrls::Entry> IssuerCrls::entry(int64_t id) const {
    std::lock_guard lock(mutex_);
    auto found = entries_.find(id);
    return found == entries_.end() ? nullptr : found->second;
}

std::vector<std::shared_ptr<IssuerCrls::Entry>> IssuerCrls::entries() const {
    // Copies of the pointers: a publisher removed meanwhile stays alive until its caller is done.
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<Entry>> all;
    for (const auto& [_, e] : entries_) all.push_back(e);
    return all;
}

std::shared_ptr<const PublishedCrl> IssuerCrls::current(int64_t id) const {
    auto e = entry(id);
    return e ? e->publisher->current() : nullptr;
}

std::string IssuerCrls::all_pem() const {
    std::string pem;
    for (const auto& e : entries()) {
        if (auto crl = e->publisher->current()) pem += crl->pem;
    }
    return pem;
}

std::string IssuerCrls::issuers_pem() const {
    std::string pem;
    for (const auto& e : entries()) pem += ca::encode_pem(e->issuer->certificate.BER_encode(), "CERTIFICATE");
    return pem;
}

bool IssuerCrls::signer(int64_t id) const {
    auto e = entry(id);
    return e && e->publisher->signer();
}

std::chrono::milliseconds IssuerCrls::tick() {
    std::chrono::milliseconds wait(1000);
    for (const auto& e : entries()) wait = std::min(wait, e->publisher->tick());
    return wait;
}

}  // namespace edgeca::crl
