// store/apps.cpp — applications and access tokens of the EnOS-style gateway scheme.
#include <fmt/format.h>

#include "store/store.h"

namespace edgeca::store {
namespace {

constexpr std::string_view app_columns = "app_key, name, role, sealed_secret, created_at, created_by";

AppRecord app_from_row(const Statement& row) {
    return {row.text(0), row.text(1), role_from_string(row.text(2)).value_or(Role::hub), row.blob(3),
            row.time(4), row.text(5)};
}

}  // namespace

std::optional<AppRecord> Reader::app(const std::string& app_key) const {
    auto statement = db_.prepare(fmt::format("SELECT {} FROM apps WHERE app_key = ?1", app_columns));
    statement.bind(1, app_key);
    if (!statement.step()) return std::nullopt;
    return app_from_row(statement);
}

std::vector<AppRecord> Reader::apps() const {
    auto statement = db_.prepare(fmt::format("SELECT {} FROM apps ORDER BY name", app_columns));
    std::vector<AppRecord> apps;
    while (statement.step()) apps.push_back(app_from_row(statement));
    return apps;
}

void Writer::insert_app(const AppRecord& a) {
    db_.prepare(fmt::format("INSERT INTO apps ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", app_columns))
        .bind(1, a.app_key)
        .bind(2, a.name)
        .bind(3, to_string(a.role))
        .bind(4, a.sealed_secret)
        .bind(5, a.created_at)
        .bind(6, a.created_by)
        .run();
}

bool Writer::delete_app(const std::string& app_key) {
    db_.prepare("DELETE FROM access_tokens WHERE app_key = ?1").bind(1, app_key).run();
    db_.prepare("DELETE FROM apps WHERE app_key = ?1").bind(1, app_key).run();
    return db_.changes() > 0;
}

std::optional<AccessTokenRecord> Reader::access_token(const std::string& token_sha256) const {
    auto statement = db_.prepare(
        "SELECT token_sha256, app_key, issued_at, expires_at FROM access_tokens WHERE token_sha256 = ?1");
    statement.bind(1, token_sha256);
    if (!statement.step()) return std::nullopt;
    return AccessTokenRecord{statement.text(0), statement.text(1), statement.time(2), statement.time(3)};
}

void Writer::insert_access_token(const AccessTokenRecord& t) {
    db_.prepare("INSERT INTO access_tokens (token_sha256, app_key, issued_at, expires_at) "
                "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (token_sha256) DO NOTHING")
        .bind(1, t.token_sha256)
        .bind(2, t.app_key)
        .bind(3, t.issued_at)
        .bind(4, t.expires_at)
        .run();
}

void Writer::delete_expired_access_tokens(Time now) {
    db_.prepare("DELETE FROM access_tokens WHERE expires_at < ?1").bind(1, now).run();
}

std::optional<EnosCallRecord> Reader::enos_call(const std::string& signature_sha256) const {
    auto statement = db_.prepare(
        "SELECT signature_sha256, app_key, claimed_at, expires_at, answer FROM enos_calls "
        "WHERE signature_sha256 = ?1");
    statement.bind(1, signature_sha256);
    if (!statement.step()) return std::nullopt;
    return EnosCallRecord{statement.text(0), statement.text(1), statement.time(2), statement.time(3),
                          statement.optional_text(4)};
}

bool Writer::claim_enos_call(const EnosCallRecord& c) {
    db_.prepare("DELETE FROM enos_calls WHERE expires_at < ?1").bind(1, c.claimed_at).run();
    db_.prepare("INSERT INTO enos_calls (signature_sha256, app_key, claimed_at, expires_at) "
                "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (signature_sha256) DO NOTHING")
        .bind(1, c.signature_sha256)
        .bind(2, c.app_key)
        .bind(3, c.claimed_at)
        .bind(4, c.expires_at)
        .run();
    return db_.changes() == 1;
}

void Writer::answer_enos_call(const std::string& signature_sha256, const std::string& answer) {
    db_.prepare("UPDATE enos_calls SET answer = ?2 WHERE signature_sha256 = ?1")
        .bind(1, signature_sha256)
        .bind(2, answer)
        .run();
}

void Writer::release_enos_call(const std::string& signature_sha256) {
    db_.prepare("DELETE FROM enos_calls WHERE signature_sha256 = ?1 AND answer IS NULL")
        .bind(1, signature_sha256)
        .run();
}

}  // namespace edgeca::store
