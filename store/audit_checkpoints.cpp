// store/audit_checkpoints.cpp — the signed checkpoints of the audit chain, kept as signed.
#include "store/store.h"

namespace edgeca::store {
namespace {

AuditCheckpoint checkpoint_from_row(const Statement& row) {
    return {row.integer(0), row.integer(1), row.text(2),     row.time(3),
            row.integer(4), row.text(5),    row.blob(6)};
}

constexpr const char* checkpoint_columns =
    "SELECT number, seq, head_hash, at, revocations, revocations_sha256, signature "
    "FROM audit_checkpoints ";

}  // namespace

std::optional<AuditCheckpoint> Reader::last_audit_checkpoint() const {
    auto statement = db_.prepare(std::string(checkpoint_columns) + "ORDER BY number DESC LIMIT 1");
    if (!statement.step()) return std::nullopt;
    return checkpoint_from_row(statement);
}

void Reader::each_audit_checkpoint(const std::function<bool(const AuditCheckpoint&)>& visit) const {
    auto statement = db_.prepare(std::string(checkpoint_columns) + "ORDER BY number");
    while (statement.step()) {
        if (!visit(checkpoint_from_row(statement))) return;
    }
}

bool Writer::insert_audit_checkpoint(const AuditCheckpoint& c) {
    db_.prepare("INSERT INTO audit_checkpoints (number, seq, head_hash, at, revocations, "
                "revocations_sha256, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                "ON CONFLICT(number) DO NOTHING")
        .bind(1, c.number)
        .bind(2, c.seq)
        .bind(3, c.head_hash)
        .bind(4, c.at)
        .bind(5, c.revocations)
        .bind(6, c.revocations_sha256)
        .bind(7, std::span<const uint8_t>(c.signature))
        .run();
    return db_.changes() == 1;
}

}  // namespace edgeca::store
