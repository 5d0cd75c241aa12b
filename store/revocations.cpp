// store/revocations.cpp — revocations and the CRL history.
#include <fmt/format.h>

#include "store/store.h"

namespace edgeca::store {
namespace {

constexpr const char* revocation_counter_key = "revocations";
// "revocations/N": the counter of issuer N's certificates alone.
constexpr const char* issuer_counter_prefix = "revocations/";

CrlRecord crl_from_row(const Statement& row) {
    return {row.integer(0), row.time(1), row.time(2), row.integer(3), row.integer(4), row.blob(5), row.integer(6)};
}

}  // namespace

bool Writer::revoke_certificate(int64_t id, Time at, int reason, const std::string& by) {
    db_.prepare("UPDATE certificates SET revoked_at = ?2, revocation_reason = ?3, revoked_by = ?4 "
                "WHERE id = ?1 AND revoked_at IS NULL")
        .bind(1, id)
        .bind(2, at)
        .bind(3, static_cast<int64_t>(reason))
        .bind(4, by)
        .run();
    if (db_.changes() != 1) return false;
    if (reason == 1) {
        db_.prepare("UPDATE key_bindings SET compromised_at = ?2 WHERE compromised_at IS NULL AND "
                    "spki_sha256 = (SELECT spki_sha256 FROM certificates WHERE id = ?1)")
            .bind(1, id)
            .bind(2, at)
            .run();
    }
    db_.prepare("INSERT INTO meta (key, value) VALUES (?1, '1') "
                "ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)")
        .bind(1, revocation_counter_key)
        .run();
    db_.prepare("INSERT INTO meta (key, value) SELECT 'revocations/' || CAST(issuer_id AS TEXT), '1' "
                "FROM certificates WHERE id = ?1 "
                "ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)")
        .bind(1, id)
        .run();
    return true;
}

int64_t Reader::revocation_counter() const {
    auto value = meta(revocation_counter_key);
    return value ? std::stoll(*value) : 0;
}

int64_t Reader::issuer_revocation_counter(int64_t issuer_id) const {
    auto value = meta(issuer_counter_prefix + std::to_string(issuer_id));
    return value ? std::stoll(*value) : 0;
}

void Reader::each_revoked_entry(Time now, const std::function<void(RevokedEntry&&)>& visit,
                                int64_t issuer_id) const {
    auto statement = db_.prepare(fmt::format(
        "SELECT serial, revoked_at, revocation_reason FROM certificates {} "
        "WHERE issuer_id = ?2 AND revoked_at IS NOT NULL AND not_after >= ?1 ORDER BY revoked_at",
        db_.index_hint("certificates_revoked")));
    statement.bind(1, now).bind(2, issuer_id);
    while (statement.step()) {
        auto serial = statement.blob_view(0);
        visit(RevokedEntry{{serial.begin(), serial.end()}, statement.time(1),
                           static_cast<int>(statement.integer(2))});
    }
}

void Reader::each_revocation(const std::function<void(RevokedEntry&&)>& visit) const {
    // BLOBs compare with memcmp(): the order does not depend on the collation. The covering
    // index of the revoked rows, sorted, rather than the serial index over every certificate:
    // the cost follows the revocations (a checkpoint at start-up reads them all).
    auto statement = db_.prepare(fmt::format(
        "SELECT serial, revoked_at, revocation_reason FROM certificates {} "
        "WHERE revoked_at IS NOT NULL ORDER BY serial",
        db_.index_hint("certificates_revoked")));
    while (statement.step()) {
        auto serial = statement.blob_view(0);
        visit(RevokedEntry{{serial.begin(), serial.end()}, statement.time(1),
                           static_cast<int>(statement.integer(2))});
    }
}

std::optional<CrlRecord> Reader::latest_crl(int64_t issuer_id) const {
    auto statement = db_.prepare(
        "SELECT number, this_update, next_update, entries, revocations, der, issuer_id FROM crls "
        "WHERE issuer_id = ?1 AND der IS NOT NULL ORDER BY number DESC LIMIT 1");
    statement.bind(1, issuer_id);
    if (!statement.step()) return std::nullopt;
    return crl_from_row(statement);
}

int64_t Reader::last_crl_number(int64_t issuer_id) const {
    auto statement = db_.prepare("SELECT coalesce(max(number), 0) FROM crls WHERE issuer_id = ?1");
    statement.bind(1, issuer_id);
    statement.step();
    return statement.integer(0);
}

void Writer::insert_crl(const CrlRecord& crl, int keep) {
    db_.prepare("INSERT INTO crls (number, this_update, next_update, entries, revocations, der, issuer_id) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
        .bind(1, crl.number)
        .bind(2, crl.this_update)
        .bind(3, crl.next_update)
        .bind(4, crl.entries)
        .bind(5, crl.revocations)
        .bind(6, crl.der)
        .bind(7, crl.issuer_id)
        .run();
    db_.prepare("UPDATE crls SET der = NULL WHERE issuer_id = ?3 AND der IS NOT NULL AND "
                "number <= CAST(?1 AS BIGINT) - CAST(?2 AS BIGINT)")
        .bind(1, crl.number)
        .bind(2, static_cast<int64_t>(keep))
        .bind(3, crl.issuer_id)
        .run();
}

}  // namespace edgeca::store
