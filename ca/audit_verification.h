// ca/audit_verification.h — checking the audit log against its signed checkpoints and the
// revocations in the store. Needs the CA's certificate (its public key), never its private key.
#pragma once

#include <botan/pk_keys.h>

#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace edgeca::ca {

// One thing found wrong. When the bad entry is known, first_bad_seq == last_bad_seq; when only
// a signed checkpoint says "something up to here changed", they bound the range it lies in;
// 0 when no entry is to blame (a checkpoint removed, the revocations table altered).
struct AuditProblem {
    int64_t first_bad_seq = 0;
    int64_t last_bad_seq = 0;
    std::string text;
};

struct AuditReport {
    int64_t entries = 0;     // entries whose chain links verify, 1..entries
    std::string head_hash;
    int64_t checkpoints = 0;  // rows in the checkpoint table
    std::optional<store::AuditCheckpoint> anchor;  // the newest checkpoint that verifies and matches
    int64_t log_entries = 0;  // entries in the log, whether they verify or not
    int64_t revocations = 0;  // revoked certificates in the store
    std::vector<AuditProblem> problems;  // the earliest entry first

    bool intact() const { return problems.empty(); }
    // Entries no valid checkpoint covers: a writer could still rewrite them unnoticed.
    int64_t uncovered() const { return log_entries - (anchor ? anchor->seq : 0); }
    // The earliest entry named by any problem; 0 when none names one.
    int64_t first_bad_seq() const;
};

// Checks, in one snapshot: the hash chain; each checkpoint's number (1, 2, 3...), signature
// (with `signer`, the public key of the CA that signed them) and head against the chain; that
// each successful revocation in the chain is a revocation in the store with the same reason and
// the other way round; and that the revocations the newest matching checkpoint signed are still
// in the store unchanged.
AuditReport verify_audit_log(const store::Reader& reader, const Botan::Public_Key& signer);

}  // namespace edgeca::ca
