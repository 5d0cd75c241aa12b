// cli/exit_codes.h — the documented exit codes of edgeca and edgeca-root (docs/cli.md).
#pragma once

#include "ca/errors.h"

namespace edgeca::cli {

enum ExitCode : int {
    exit_ok = 0,
    exit_internal = 1,      // a bug or an unexpected failure
    exit_usage = 2,         // unknown option, missing argument
    exit_bad_input = 3,     // malformed CSR, PEM, DER, subject or serial; bad CSR signature
    exit_policy = 4,        // refused by policy: key not RSA-2048, subject rules, validity
    exit_auth = 5,          // wrong or missing passphrase, spent token
    exit_not_found = 6,     // missing directory, store or serial
    exit_conflict = 7,      // a root already exists, already revoked
    exit_unavailable = 8,   // the store or a file cannot be written; the clock is behind
    exit_integrity = 9,     // the audit chain or the store failed verification
};

ExitCode exit_code_for(ca::ErrorKind kind);

}  // namespace edgeca::cli
