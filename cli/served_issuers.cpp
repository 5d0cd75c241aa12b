// cli/served_issuers.cpp — a running service following the issuers table.
#include "cli/served_issuers.h"

#include "api/event_log.h"
#include "ca/distinguished_name.h"
#include "cli/issuer_generations.h"

namespace edgeca::cli {

ServedIssuers::ServedIssuers(const IssuerDirectory& d, store::Store& store, ca::IssuingAuthority& authority,
                             crl::IssuerCrls& crls, const ca::IssuerIdentity& first, std::string passphrase,
                             ca::SigningBackend backend, std::function<void(const ca::IssuerIdentity&)> on_loaded)
    : d_(d),
      store_(store),
      authority_(authority),
      crls_(crls),
      first_(std::make_shared<const ca::IssuerIdentity>(first)),
      passphrase_(std::move(passphrase)),
      backend_(backend),
      on_loaded_(std::move(on_loaded)) {}

std::shared_ptr<const ca::IssuerIdentity> ServedIssuers::load(const store::IssuerRecord& record) {
    if (record.id == 1) return first_;
    try {
        // The trust bundle is read again: a rotation may follow a root rollover (trust add).
        auto identity = std::make_shared<const ca::IssuerIdentity>(
            load_generation(d_, record, d_.load_trust(), passphrase_, backend_));
        failed_.erase(record.id);
        return identity;
    } catch (const std::exception& e) {
        if (failed_.insert(record.id).second) {
            api::log_event({{"event", "issuer_load_failed"}, {"level", "error"}, {"issuer_id", record.id},
                            {"error", e.what()}});
        }
        return nullptr;
    }
}

void ServedIssuers::sync() {
    auto records = store_.read([](const store::Reader& r) { return r.issuers(); });
    std::shared_ptr<const ca::IssuerIdentity> newest;
    for (const auto& record : records) {
        if (record.retired_at) {
            if (crls_.has(record.id)) {
                crls_.remove(record.id);
                api::log_event({{"event", "issuer_retired"}, {"issuer_id", record.id}});
            }
            loaded_.erase(record.id);
            continue;
        }
        if (!loaded_.contains(record.id)) {
            auto identity = load(record);
            if (!identity) continue;
            loaded_.emplace(record.id, identity);
            crls_.add(identity);
            authority_.know_issuer(identity);
            if (record.id != 1) on_loaded_(*identity);
            api::log_event({{"event", "issuer_loaded"}, {"issuer_id", record.id},
                            {"subject", ca::to_rfc4514(identity->certificate.subject_dn())}});
        }
        newest = loaded_.at(record.id);
    }
    if (!newest) return;
    if (authority_.issuer()->id != newest->id) {
        authority_.use_issuer(*newest);
        api::log_event({{"event", "issuer_activated"}, {"issuer_id", newest->id},
                        {"subject", ca::to_rfc4514(newest->certificate.subject_dn())}});
    }
}

}  // namespace edgeca::cli
