// cli/records_output.h — how the command-line tools print certificates and the audit trail.
#pragma once

#include <botan/x509cert.h>

#include <optional>
#include <ostream>

#include "store/store.h"

namespace edgeca::cli {

// One line per certificate: serial, profile, status, notAfter, subject.
void print_certificate_table(const store::Store& store, std::ostream& out,
                             const store::CertificateFilter& filter = {});

// Every recorded field, then the certificate as PEM.
void print_certificate_details(const store::CertificateRecord& record, std::ostream& out);

// Prints the trail; with `verify`, checks it too (the chain, the checkpoints signed by `signer`,
// the revocations) and returns exit_integrity when anything is wrong, naming the first bad
// entry. Without `signer` (a CA not installed yet) only the chain is checked.
int print_audit(const store::Store& store, const std::optional<Botan::X509_Certificate>& signer, bool verify,
                std::ostream& out);

}  // namespace edgeca::cli
