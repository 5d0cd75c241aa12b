// cli/serve_metrics.cpp — the gauges edgeca serve adds for its CRLs and the root CRL.
#include "cli/serve_metrics.h"

namespace edgeca::cli {

// The CRL of the active issuer (the one new certificates come from).
void add_crl_metrics(api::Metrics& metrics, const crl::IssuerCrls& crls, const ca::IssuingAuthority& authority,
                     const ca::Clock& clock) {
    auto active = [&crls, &authority] { return crls.current(authority.issuer()->id); };
    auto field = [active](auto read) {
        return [active, read] {
            auto crl = active();
            return crl ? read(*crl) : 0.0;
        };
    };
    metrics.add_gauge("edgeca_issuer_id", "Id of the active issuing CA (edgeca issuer list).",
                      [&authority] { return static_cast<double>(authority.issuer()->id); });
    metrics.add_gauge("edgeca_crl_signer", "1 while this node holds the active issuer's CRL signer lease, else 0.",
                      [&crls, &authority] { return crls.signer(authority.issuer()->id) ? 1.0 : 0.0; });
    metrics.add_gauge("edgeca_crl_number", "CRL Number of the active issuer's CRL being served.",
                      field([](const crl::PublishedCrl& c) { return static_cast<double>(c.number); }));
    metrics.add_gauge("edgeca_crl_entries", "Revoked certificates listed in the active issuer's CRL being served.",
                      field([](const crl::PublishedCrl& c) { return static_cast<double>(c.entries); }));
    metrics.add_gauge("edgeca_crl_age_seconds", "Seconds since the active issuer's served CRL's thisUpdate.",
                      field([&clock](const crl::PublishedCrl& c) {
                          return static_cast<double>((clock.now() - c.this_update).count());
                      }));
    metrics.add_gauge("edgeca_crl_next_update_seconds", "Seconds until the active issuer's served CRL's nextUpdate.",
                      field([&clock](const crl::PublishedCrl& c) {
                          return static_cast<double>((c.next_update - clock.now()).count());
                      }));
}

void add_root_crl_metrics(api::Metrics& metrics, const crl::RootCrlFile& root_crl, const ca::Clock& clock) {
    // -1 when none is installed: an alert on "below N" fires for a missing one too.
    metrics.add_gauge("edgeca_root_crl_number", "CRL Number of the root CRL being served at /root.crl (-1: none).",
                      [&root_crl] {
                          auto crl = root_crl.current();
                          return crl ? static_cast<double>(crl->number) : -1.0;
                      });
    metrics.add_gauge("edgeca_root_crl_next_update_seconds",
                      "Seconds until the served root CRL's nextUpdate (-1: none installed).",
                      [&root_crl, &clock] {
                          auto crl = root_crl.current();
                          return crl ? static_cast<double>((crl->next_update - clock.now()).count()) : -1.0;
                      });
}

}  // namespace edgeca::cli
