// cli/serve_metrics.h — the gauges edgeca serve adds for its CRLs and the root CRL.
#pragma once

#include "api/metrics.h"
#include "ca/clock.h"
#include "ca/issuing_authority.h"
#include "crl/issuer_crls.h"
#include "crl/root_crl.h"

namespace edgeca::cli {

// The active issuer's id, and its CRL: number, entries, age, time to nextUpdate, signer lease.
void add_crl_metrics(api::Metrics& metrics, const crl::IssuerCrls& crls, const ca::IssuingAuthority& authority,
                     const ca::Clock& clock);
// The installed root CRL's number and time to nextUpdate (-1 while none is installed).
void add_root_crl_metrics(api::Metrics& metrics, const crl::RootCrlFile& root_crl, const ca::Clock& clock);

}  // namespace edgeca::cli
