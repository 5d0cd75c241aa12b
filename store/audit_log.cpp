// store/audit_log.cpp — the append-only audit trail, a hash chain: each entry carries the hash
// of the one before it, so an entry edited or taken out breaks every hash after it.
#include <botan/hash.h>
#include <botan/hex.h>
#include <fmt/format.h>

#include <array>

#include "store/store.h"

namespace edgeca::store {
namespace {

const std::string genesis_hash(64, '0');

// Length-prefixed fields, so that no two different entries hash the same bytes.
std::string entry_hash(int64_t seq, int64_t at_ms, const AuditEvent& event,
                       const std::string& prev_hash) {
    auto sha256 = Botan::HashFunction::create_or_throw("SHA-256");
    auto field = [&](std::string_view value) {
        std::array<uint8_t, 8> length{};
        uint64_t n = value.size();
        for (int i = 7; i >= 0; --i, n >>= 8) length[i] = static_cast<uint8_t>(n & 0xff);
        sha256->update(length.data(), length.size());
        sha256->update(reinterpret_cast<const uint8_t*>(value.data()), value.size());
    };
    field(std::to_string(seq));
    field(std::to_string(at_ms));
    field(event.actor);
    field(event.action);
    field(event.serial);
    field(event.fingerprint);
    field(event.outcome);
    field(event.detail);
    field(prev_hash);
    return Botan::hex_encode(sha256->final(), false);
}

}  // namespace

std::string audit_entry_hash(const AuditEntry& entry) {
    return entry_hash(entry.seq, entry.at.time_since_epoch().count(), entry.event, entry.prev_hash);
}

AuditHead Reader::audit_head() const {
    auto last = db_.prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
    if (!last.step()) return {0, genesis_hash};
    return {last.integer(0), last.text(1)};
}

AuditEntry Writer::append_audit(const AuditEvent& event) {
    AuditEntry entry;
    entry.event = event;
    {
        auto head = audit_head();
        entry.seq = head.seq + 1;
        entry.prev_hash = std::move(head.hash);
    }
    entry.at = std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
    int64_t at_ms = entry.at.time_since_epoch().count();
    entry.hash = entry_hash(entry.seq, at_ms, event, entry.prev_hash);

    auto insert = db_.prepare(
        "INSERT INTO audit_log (seq, at_ms, actor, action, serial, fingerprint, outcome, detail, "
        "prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    insert.bind(1, entry.seq)
        .bind(2, at_ms)
        .bind(3, event.actor)
        .bind(4, event.action)
        .bind(5, event.serial)
        .bind(6, event.fingerprint)
        .bind(7, event.outcome)
        .bind(8, event.detail)
        .bind(9, entry.prev_hash)
        .bind(10, entry.hash);
    insert.run();
    return entry;
}

void Reader::each_audit_entry(const std::function<bool(const AuditEntry&)>& visit) const {
    auto statement = db_.prepare(
        "SELECT seq, at_ms, actor, action, serial, fingerprint, outcome, detail, prev_hash, hash "
        "FROM audit_log ORDER BY seq");
    while (statement.step()) {
        AuditEntry entry;
        entry.seq = statement.integer(0);
        entry.at = std::chrono::sys_time<std::chrono::milliseconds>(
            std::chrono::milliseconds(statement.integer(1)));
        entry.event = {statement.text(2), statement.text(3), statement.text(4),
                       statement.text(5), statement.text(6), statement.text(7)};
        entry.prev_hash = statement.text(8);
        entry.hash = statement.text(9);
        if (!visit(entry)) return;
    }
}

AuditVerification Reader::verify_audit_chain() const {
    AuditVerification result;
    std::string expected_prev = genesis_hash;
    int64_t expected_seq = 1;
    each_audit_entry([&](const AuditEntry& entry) {
        auto fail = [&](std::string problem) {
            result.intact = false;
            result.first_bad_seq = entry.seq;
            result.problem = std::move(problem);
            return false;
        };
        if (entry.seq != expected_seq) {
            return fail(fmt::format("entry {} follows entry {}: {} entr{} missing", entry.seq,
                                    expected_seq - 1, entry.seq - expected_seq,
                                    entry.seq - expected_seq == 1 ? "y is" : "ies are"));
        }
        if (entry.prev_hash != expected_prev) {
            return fail(fmt::format("entry {} does not link to the entry before it", entry.seq));
        }
        int64_t at_ms = entry.at.time_since_epoch().count();
        if (entry_hash(entry.seq, at_ms, entry.event, entry.prev_hash) != entry.hash) {
            return fail(fmt::format("entry {} was altered: its hash does not match its content",
                                    entry.seq));
        }
        expected_prev = entry.hash;
        ++expected_seq;
        ++result.entries;
        return true;
    });
    result.head_hash = expected_prev;
    return result;
}

}  // namespace edgeca::store
