// cli/records_output.h — how the command-line tools print certificates and the audit trail.
#pragma once

#include <ostream>

#include "store/store.h"

namespace edgeca::cli {

// One line per certificate: serial, profile, status, notAfter, subject.
void print_certificate_table(const store::Store& store, std::ostream& out,
                             const store::CertificateFilter& filter = {});

// Every recorded field, then the certificate as PEM.
void print_certificate_details(const store::CertificateRecord& record, std::ostream& out);

// Prints the trail; with `verify`, checks the chain too and returns exit_integrity when it is
// broken, naming the first bad entry.
int print_audit(const store::Store& store, bool verify, std::ostream& out);

}  // namespace edgeca::cli
