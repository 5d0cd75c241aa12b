// store/access.cpp — who may call the API: client certificates, enrollment tokens, and the
// idempotency keys of their requests.
#include <fmt/format.h>

#include "store/store.h"

namespace edgeca::store {
namespace {

AccessGrant grant_from_row(const Statement& row) {
    AccessGrant grant;
    grant.fingerprint_sha256 = row.text(0);
    grant.serial = row.blob(1);
    grant.principal = row.text(2);
    grant.role = role_from_string(row.text(3)).value_or(Role::hub);
    grant.granted_at = row.time(4);
    grant.granted_by = row.text(5);
    return grant;
}

constexpr std::string_view grant_columns =
    "fingerprint_sha256, serial, principal, role, granted_at, granted_by";

}  // namespace

std::optional<AccessGrant> Reader::access_grant(const std::string& fingerprint_sha256) const {
    auto statement = db_.prepare(
        fmt::format("SELECT {} FROM access_list WHERE fingerprint_sha256 = ?1", grant_columns));
    statement.bind(1, fingerprint_sha256);
    if (!statement.step()) return std::nullopt;
    return grant_from_row(statement);
}

std::vector<AccessGrant> Reader::access_grants() const {
    auto statement = db_.prepare(
        fmt::format("SELECT {} FROM access_list ORDER BY granted_at, principal", grant_columns));
    std::vector<AccessGrant> grants;
    while (statement.step()) grants.push_back(grant_from_row(statement));
    return grants;
}

std::vector<AccessGrant> Reader::access_grants_of(const std::string& principal) const {
    auto statement = db_.prepare(fmt::format(
        "SELECT {} FROM access_list WHERE principal = ?1 ORDER BY granted_at", grant_columns));
    statement.bind(1, principal);
    std::vector<AccessGrant> grants;
    while (statement.step()) grants.push_back(grant_from_row(statement));
    return grants;
}

bool Reader::principal_exists(const std::string& principal) const {
    auto statement = db_.prepare(
        "SELECT 1 FROM access_list WHERE principal = ?1 "
        "UNION ALL SELECT 1 FROM certificates WHERE requester = ?1 LIMIT 1");
    statement.bind(1, principal);
    return statement.step();
}

void Writer::grant_access(const AccessGrant& g) {
    db_.prepare(fmt::format("INSERT INTO access_list ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                            "ON CONFLICT (fingerprint_sha256) DO UPDATE SET serial = excluded.serial, "
                            "principal = excluded.principal, role = excluded.role, "
                            "granted_at = excluded.granted_at, granted_by = excluded.granted_by",
                            grant_columns))
        .bind(1, g.fingerprint_sha256)
        .bind(2, g.serial)
        .bind(3, g.principal)
        .bind(4, to_string(g.role))
        .bind(5, g.granted_at)
        .bind(6, g.granted_by)
        .run();
}

bool Writer::revoke_access(const std::string& fingerprint_sha256) {
    db_.prepare("DELETE FROM access_list WHERE fingerprint_sha256 = ?1")
        .bind(1, fingerprint_sha256)
        .run();
    return db_.changes() > 0;
}

std::optional<EnrollmentToken> Reader::enrollment_token(const std::string& token_sha256) const {
    auto statement = db_.prepare(
        "SELECT token_sha256, role, created_at, expires_at, created_by, used_at "
        "FROM enrollment_tokens WHERE token_sha256 = ?1");
    statement.bind(1, token_sha256);
    if (!statement.step()) return std::nullopt;
    EnrollmentToken token;
    token.token_sha256 = statement.text(0);
    token.role = role_from_string(statement.text(1)).value_or(Role::hub);
    token.created_at = statement.time(2);
    token.expires_at = statement.time(3);
    token.created_by = statement.text(4);
    token.used_at = statement.optional_time(5);
    return token;
}

void Writer::insert_enrollment_token(const EnrollmentToken& t) {
    db_.prepare("INSERT INTO enrollment_tokens (token_sha256, role, created_at, expires_at, "
                "created_by) VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(1, t.token_sha256)
        .bind(2, to_string(t.role))
        .bind(3, t.created_at)
        .bind(4, t.expires_at)
        .bind(5, t.created_by)
        .run();
}

bool Writer::consume_enrollment_token(const std::string& token_sha256, Time now,
                                      std::span<const uint8_t> serial) {
    db_.prepare("UPDATE enrollment_tokens SET used_at = ?2, used_for_serial = ?3 "
                "WHERE token_sha256 = ?1 AND used_at IS NULL AND expires_at > ?2")
        .bind(1, token_sha256)
        .bind(2, now)
        .bind(3, serial)
        .run();
    return db_.changes() == 1;
}

std::optional<Reader::IdempotentRequest> Reader::idempotent_request(const std::string& requester,
                                                                    const std::string& key) const {
    auto statement = db_.prepare(
        "SELECT request_sha256, certificate_id FROM idempotency_keys "
        "WHERE requester = ?1 AND key = ?2");
    statement.bind(1, requester).bind(2, key);
    if (!statement.step()) return std::nullopt;
    return IdempotentRequest{statement.text(0), statement.integer(1)};
}

void Writer::record_idempotent_request(const std::string& requester, const std::string& key,
                                       const std::string& request_sha256, int64_t certificate_id,
                                       Time now) {
    db_.prepare("INSERT INTO idempotency_keys (requester, key, request_sha256, certificate_id, "
                "created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(1, requester)
        .bind(2, key)
        .bind(3, request_sha256)
        .bind(4, certificate_id)
        .bind(5, now)
        .run();
}

}  // namespace edgeca::store
