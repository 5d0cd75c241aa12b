// ca/audit_checkpoint.h — signed checkpoints of the audit chain, as Certificate Transparency
// signs its tree heads: the CA key vouches for the chain's head and for every revocation then
// recorded, so that a writer of the database who lacks the key cannot rewrite either unnoticed.
#pragma once

#include <botan/pk_keys.h>
#include <botan/rng.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "ca/clock.h"
#include "store/store.h"

namespace edgeca::ca {

// The bytes a checkpoint's signature covers: a line of text per field under a fixed title,
// which no certificate or CRL (DER, starting 0x30) can be mistaken for.
std::string checkpoint_statement(const store::AuditCheckpoint& checkpoint);

struct RevocationDigest {
    int64_t count = 0;
    std::string sha256;  // hex, over (serial hex, revocation time, reason) of each, in serial order
};

// The digest of every revoked certificate in the store, leaving out the serials (hex) in `skip`.
RevocationDigest revocation_digest(const store::Reader& reader,
                                   const std::set<std::string>& skip = {});

// Signs a checkpoint of the current head and revocations with `key` (RSASSA-PKCS1-v1_5,
// SHA-256) and stores it; nullopt when the newest checkpoint already says the same, or the log
// is empty. A number another process took meanwhile is skipped.
std::optional<store::AuditCheckpoint> sign_audit_checkpoint(store::Store& store,
                                                            const Botan::Private_Key& key,
                                                            Botan::RandomNumberGenerator& rng,
                                                            Time now);

struct CheckpointSchedule {
    int64_t entries = 1000;                    // at most this many entries go unsigned
    std::chrono::seconds interval{60};         // nor does any entry for longer than this
};

// When the online service signs checkpoints: once `entries` entries are new or `interval` has
// passed with any new entry, and at once after a revocation (in this process or, seen through
// the store's revocation counter, another). Never once per issuance.
class AuditCheckpointer {
public:
    AuditCheckpointer(store::Store& store, const Clock& clock, Botan::RandomNumberGenerator& rng,
                      const Botan::Private_Key& key, CheckpointSchedule schedule);

    // Safe from any thread: the next tick signs if anything is new.
    void note_revocation() { revocation_noted_ = true; }
    // Signs if a checkpoint is due. Called from one thread (the service's maintenance).
    void tick();
    // Signs now if anything is new (at start and at shutdown).
    std::optional<store::AuditCheckpoint> checkpoint_now();

private:
    store::Store& store_;
    const Clock& clock_;
    Botan::RandomNumberGenerator& rng_;
    const Botan::Private_Key& key_;
    CheckpointSchedule schedule_;
    std::atomic<bool> revocation_noted_{false};
    int64_t revocation_counter_ = -1;
    std::chrono::steady_clock::time_point last_signed_ = std::chrono::steady_clock::now();
};

}  // namespace edgeca::ca
