// store/issuers.cpp — the issuing CAs of one authority: which exist, which sign, what each issued.
#include "store/store.h"

namespace edgeca::store {
namespace {

constexpr const char* issuer_columns = "id, der, subject, spki_sha256, not_after, activated_at, retired_at";

IssuerRecord issuer_from_row(const Statement& row) {
    return {row.integer(0), row.blob(1), row.text(2), row.text(3), row.time(4), row.time(5), row.optional_time(6)};
}

}  // namespace

std::vector<IssuerRecord> Reader::issuers() const {
    auto statement = db_.prepare(std::string("SELECT ") + issuer_columns + " FROM issuers ORDER BY id");
    std::vector<IssuerRecord> all;
    while (statement.step()) all.push_back(issuer_from_row(statement));
    return all;
}

std::optional<IssuerRecord> Reader::issuer(int64_t id) const {
    auto statement = db_.prepare(std::string("SELECT ") + issuer_columns + " FROM issuers WHERE id = ?1");
    statement.bind(1, id);
    if (!statement.step()) return std::nullopt;
    return issuer_from_row(statement);
}

IssuerUsage Reader::issuer_usage(int64_t id, Time now) const {
    // Both counts come from the index (issuer_id, not_after).
    auto issued = db_.prepare("SELECT count(*) FROM certificates WHERE issuer_id = ?1");
    issued.bind(1, id).step();
    auto unexpired = db_.prepare("SELECT count(*) FROM certificates WHERE issuer_id = ?1 AND not_after >= ?2");
    unexpired.bind(1, id).bind(2, now).step();
    return {issued.integer(0), unexpired.integer(0)};
}

void Writer::insert_issuer(const IssuerRecord& issuer) {
    db_.prepare("INSERT INTO issuers (id, der, subject, spki_sha256, not_after, activated_at, retired_at) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
        .bind(1, issuer.id)
        .bind(2, issuer.der)
        .bind(3, issuer.subject)
        .bind(4, issuer.spki_sha256)
        .bind(5, issuer.not_after)
        .bind(6, issuer.activated_at)
        .bind(7, issuer.retired_at)
        .run();
}

bool Writer::retire_issuer(int64_t id, Time at) {
    db_.prepare("UPDATE issuers SET retired_at = ?2 WHERE id = ?1 AND retired_at IS NULL").bind(1, id).bind(2, at).run();
    return db_.changes() == 1;
}

}  // namespace edgeca::store
