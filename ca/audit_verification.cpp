// ca/audit_verification.cpp — what `audit --verify` proves, and what it names when it cannot.
#include "ca/audit_verification.h"

#include <botan/pubkey.h>
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "ca/audit_checkpoint.h"
#include "ca/certificate_facts.h"
#include "ca/encoding.h"
#include "ca/revocation_reason.h"

namespace edgeca::ca {
namespace {

const std::string genesis_hash(64, '0');

struct RecordedRevocation {
    int64_t seq = 0;
    std::string reason;  // the RFC 5280 name the entry gives
};

// "reason=keyCompromise profile=edge" -> "keyCompromise".
std::string reason_of(const std::string& detail) {
    constexpr std::string_view key = "reason=";
    if (!detail.starts_with(key)) return "";
    auto end = detail.find(' ');
    return detail.substr(key.size(), end == std::string::npos ? std::string::npos : end - key.size());
}

bool signature_valid(const Botan::Public_Key& signer, const store::AuditCheckpoint& c) {
    try {
        Botan::PK_Verifier verifier(signer, "EMSA3(SHA-256)");
        auto statement = checkpoint_statement(c);
        return verifier.verify_message(reinterpret_cast<const uint8_t*>(statement.data()), statement.size(),
                                       c.signature.data(), c.signature.size());
    } catch (const std::exception&) {
        return false;
    }
}

class Verification {
public:
    Verification(const store::Reader& reader, const Botan::Public_Key& signer) : reader_(reader), signer_(signer) {}

    AuditReport run() {
        load_checkpoints();
        walk_chain();
        check_revocations();
        std::stable_sort(report_.problems.begin(), report_.problems.end(), [](const auto& a, const auto& b) {
            auto key = [](const AuditProblem& p) { return p.first_bad_seq == 0 ? std::numeric_limits<int64_t>::max() : p.first_bad_seq; };
            return key(a) < key(b);
        });
        return std::move(report_);
    }

private:
    void problem(int64_t first, int64_t last, std::string text) {
        report_.problems.push_back({first, last, std::move(text)});
    }

    // Checkpoints whose signature verifies, by the seq they cover; the others are problems.
    // A checkpoint removed or forged blames no entry: a later valid one that matches still
    // proves the entries before it.
    void load_checkpoints() {
        int64_t expected = 1;
        int64_t previous_seq = 0;
        reader_.each_audit_checkpoint([&](const store::AuditCheckpoint& c) {
            ++report_.checkpoints;
            if (c.number != expected) {
                problem(0, 0,
                        fmt::format("checkpoint #{} follows #{}: {} signed checkpoint(s) removed", c.number,
                                    expected - 1, c.number - expected));
            }
            expected = c.number + 1;
            if (!signature_valid(signer_, c)) {
                problem(0, 0,
                        fmt::format("checkpoint #{} (entry {}) is not signed by the CA certificate given: "
                                    "forged or altered",
                                    c.number, c.seq));
                return true;
            }
            if (c.seq < previous_seq) {
                problem(0, 0,
                        fmt::format("checkpoint #{} covers entry {}, before checkpoint #{}'s entry {}", c.number,
                                    c.seq, c.number - 1, previous_seq));
            }
            previous_seq = std::max(previous_seq, c.seq);
            signed_.emplace(c.seq, c);
            return true;
        });
    }

    void walk_chain() {
        std::string expected_prev = genesis_hash;
        int64_t expected_seq = 1;
        int64_t proven = 0;  // entries 1..proven match a checkpoint
        bool rewritten = false;
        auto next_checkpoint = signed_.begin();
        bool broken = false;
        reader_.each_audit_entry([&](const store::AuditEntry& e) {
            ++report_.log_entries;
            if (broken) return true;  // counted, not trusted
            std::string fault;
            if (e.seq != expected_seq) {
                fault = fmt::format("entry {} follows entry {}: {} entr{} missing", e.seq, expected_seq - 1,
                                    e.seq - expected_seq, e.seq - expected_seq == 1 ? "y is" : "ies are");
            } else if (e.prev_hash != expected_prev) {
                fault = fmt::format("entry {} does not link to the entry before it", e.seq);
            } else if (store::audit_entry_hash(e) != e.hash) {
                fault = fmt::format("entry {} was altered: its hash does not match its content", e.seq);
            }
            if (!fault.empty()) {
                const int64_t bad = std::min(e.seq, expected_seq);
                problem(bad, bad, std::move(fault));
                broken = true;
                return true;
            }
            if (e.event.action == "revoke" && e.event.outcome == "ok") {
                recorded_[e.event.serial] = {e.seq, reason_of(e.event.detail)};
            }
            for (; next_checkpoint != signed_.end() && next_checkpoint->first == e.seq; ++next_checkpoint) {
                const auto& c = next_checkpoint->second;
                if (c.head_hash == e.hash) {
                    if (!rewritten) {
                        proven = e.seq;
                        report_.anchor = c;
                    }
                } else if (!rewritten) {
                    rewritten = true;
                    problem(proven + 1, e.seq,
                            fmt::format("entries {}..{}: one or more of them were altered, inserted or removed "
                                        "and the later hashes recomputed: checkpoint #{} signed head {} for entry "
                                        "{}, the log hashes to {} there; entries 1..{} match {}",
                                        proven + 1, e.seq, c.number, c.head_hash, e.seq, e.hash, proven,
                                        report_.anchor ? fmt::format("checkpoint #{}", report_.anchor->number)
                                                       : std::string("no checkpoint")));
                }
            }
            expected_prev = e.hash;
            ++expected_seq;
            ++report_.entries;
            return true;
        });
        report_.head_hash = expected_prev;
        chain_complete_ = !broken;
        // Checkpoints past a break cannot be compared; the break is reported already.
        if (broken) return;
        for (; next_checkpoint != signed_.end(); ++next_checkpoint) {
            const auto& c = next_checkpoint->second;
            if (c.seq > report_.entries) {
                problem(report_.entries + 1, c.seq,
                        fmt::format("entries {}..{} were removed: checkpoint #{} covers entry {}, the log ends "
                                    "at entry {}",
                                    report_.entries + 1, c.seq, c.number, c.seq, report_.entries));
                break;
            }
        }
    }

    // Each successful revocation in the chain against the store, and the store's revocations
    // against the newest matching checkpoint.
    void check_revocations() {
        const int64_t anchor_seq = report_.anchor ? report_.anchor->seq : 0;
        std::set<std::string> after_anchor;
        for (const auto& [serial, r] : recorded_) {
            if (r.seq > anchor_seq) after_anchor.insert(serial);
        }
        auto unmatched = recorded_;
        reader_.each_revocation([&](store::RevokedEntry&& row) {
            ++report_.revocations;
            auto serial = to_hex(row.serial);
            auto found = unmatched.find(serial);
            if (found == unmatched.end()) {
                // Revocations past a broken link were not read: their entries may exist.
                if (chain_complete_) {
                    problem(0, 0, fmt::format("certificate {} is revoked in the store ({} at {}), but no audit "
                                              "entry records its revocation",
                                              serial, reason_name(row.reason), to_rfc3339(row.revoked_at)));
                }
                return;
            }
            if (found->second.reason != reason_name(row.reason)) {
                problem(found->second.seq, found->second.seq,
                        fmt::format("entry {}: it revoked {} for {}, the store now says {}", found->second.seq,
                                    serial, found->second.reason, reason_name(row.reason)));
            }
            unmatched.erase(found);
        });
        for (const auto& [serial, r] : unmatched) {
            problem(r.seq, r.seq,
                    fmt::format("entry {}: it revoked {} ({}), but the store shows that certificate not "
                                "revoked: the revocation was undone in the database",
                                r.seq, serial, r.reason));
        }
        if (!report_.anchor) return;
        auto digest = revocation_digest(reader_, after_anchor);
        if (digest.sha256 != report_.anchor->revocations_sha256) {
            problem(0, 0,
                    fmt::format("the revocations checkpoint #{} signed ({} certificates) are not those in the "
                                "store now ({} of the same age): one was removed, or its time or reason changed",
                                report_.anchor->number, report_.anchor->revocations, digest.count));
        }
    }

    const store::Reader& reader_;
    const Botan::Public_Key& signer_;
    AuditReport report_;
    std::multimap<int64_t, store::AuditCheckpoint> signed_;
    std::map<std::string, RecordedRevocation> recorded_;
    bool chain_complete_ = false;
};

}  // namespace

int64_t AuditReport::first_bad_seq() const {
    int64_t first = 0;
    for (const auto& p : problems) {
        if (p.first_bad_seq != 0 && (first == 0 || p.first_bad_seq < first)) first = p.first_bad_seq;
    }
    return first;
}

AuditReport verify_audit_log(const store::Reader& reader, const Botan::Public_Key& signer) {
    return Verification(reader, signer).run();
}

}  // namespace edgeca::ca
