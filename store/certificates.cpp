// store/certificates.cpp — issued certificates: recording them and finding them again.
#include <fmt/format.h>

#include "store/store.h"

namespace edgeca::store {
namespace {

constexpr std::string_view certificate_columns =
    "id, serial, profile, subject, common_name, product_key, device_key, asset_id, spki_sha256, "
    "fingerprint_sha256, not_before, not_after, issued_at, requester, der, revoked_at, "
    "revocation_reason, revoked_by, issuer_id";

CertificateRecord certificate_from_row(const Statement& row) {
    CertificateRecord record;
    record.id = row.integer(0);
    record.serial = row.blob(1);
    record.profile = row.text(2);
    record.subject = row.text(3);
    record.common_name = row.text(4);
    record.product_key = row.optional_text(5);
    record.device_key = row.optional_text(6);
    record.asset_id = row.optional_text(7);
    record.spki_sha256 = row.text(8);
    record.fingerprint_sha256 = row.text(9);
    record.not_before = row.time(10);
    record.not_after = row.time(11);
    record.issued_at = row.time(12);
    record.requester = row.text(13);
    record.der = row.blob(14);
    record.revoked_at = row.optional_time(15);
    if (auto reason = row.optional_integer(16)) record.revocation_reason = static_cast<int>(*reason);
    record.revoked_by = row.optional_text(17);
    record.issuer_id = row.integer(18);
    return record;
}

template <typename Bind>
std::optional<CertificateRecord> one_certificate(const Database& db, std::string_view where,
                                                 Bind&& bind) {
    auto statement =
        db.prepare(fmt::format("SELECT {} FROM certificates WHERE {}", certificate_columns, where));
    bind(statement);
    if (!statement.step()) return std::nullopt;
    return certificate_from_row(statement);
}

}  // namespace

std::optional<CertificateRecord> Reader::certificate_by_serial(
    std::span<const uint8_t> serial) const {
    return one_certificate(db_, "serial = ?1", [&](Statement& s) { s.bind(1, serial); });
}

std::optional<CertificateRecord> Reader::certificate_by_id(int64_t id) const {
    return one_certificate(db_, "id = ?1", [&](Statement& s) { s.bind(1, id); });
}

std::optional<CertificateRecord> Reader::certificate_by_fingerprint(const std::string& hex) const {
    return one_certificate(db_, "fingerprint_sha256 = ?1", [&](Statement& s) { s.bind(1, hex); });
}

std::vector<CertificateRecord> Reader::certificates(const CertificateFilter& filter) const {
    // Every condition is always present and switched off by a NULL parameter, so that the
    // statement text never depends on the input.
    auto statement = db_.prepare(fmt::format(
        "SELECT {} FROM certificates WHERE id > ?1"
        " AND (CAST(?2 AS TEXT) IS NULL OR device_key = ?2)"
        " AND (CAST(?3 AS TEXT) IS NULL OR requester = ?3)"
        " AND (CAST(?4 AS TEXT) IS NULL OR profile = ?4)"
        " AND (CAST(?5 AS TEXT) IS NULL"
        "      OR (?5 = 'revoked' AND revoked_at IS NOT NULL)"
        "      OR (?5 = 'expired' AND revoked_at IS NULL AND not_after < ?6)"
        "      OR (?5 = 'valid' AND revoked_at IS NULL AND not_after >= ?6))"
        " ORDER BY id LIMIT ?7",
        certificate_columns));
    statement.bind(1, filter.after_id)
        .bind(2, filter.device_key)
        .bind(3, filter.requester)
        .bind(4, filter.profile);
    if (filter.status) {
        statement.bind(5, to_string(*filter.status));
    } else {
        statement.bind_null(5);
    }
    statement.bind(6, filter.now).bind(7, static_cast<int64_t>(filter.limit));
    std::vector<CertificateRecord> records;
    while (statement.step()) records.push_back(certificate_from_row(statement));
    return records;
}

int64_t Reader::certificate_count() const {
    auto statement = db_.prepare("SELECT count(*) FROM certificates");
    statement.step();
    return statement.integer(0);
}

std::optional<Time> Reader::latest_issued_at() const {
    // The newest row by id, through the primary key: constant time at any size.
    auto statement = db_.prepare("SELECT issued_at FROM certificates ORDER BY id DESC LIMIT 1");
    if (!statement.step()) return std::nullopt;
    return statement.time(0);
}

std::vector<CertificateRecord> Reader::certificates_with_key(const std::string& spki_sha256) const {
    auto statement = db_.prepare(fmt::format(
        "SELECT {} FROM certificates WHERE spki_sha256 = ?1 ORDER BY id", certificate_columns));
    statement.bind(1, spki_sha256);
    std::vector<CertificateRecord> records;
    while (statement.step()) records.push_back(certificate_from_row(statement));
    return records;
}

std::optional<CertificateRecord> Reader::valid_certificate_with_cn_of_other_device(
    const std::string& profile, const std::string& cn, const std::string& device_key,
    Time now) const {
    // Two index ranges around this device's own rows, which a device that renews often has
    // many of; then the rows without a device. One statement (one round trip to a server): each
    // engine reads the ranges in turn and stops at the first row.
    static const std::string sql = [] {
        constexpr std::string_view valid = "profile = ?2 AND revoked_at IS NULL AND not_after >= ?3";
        std::string ranges;
        for (std::string_view range : {"device_key < ?4", "device_key > ?4", "device_key IS NULL"}) {
            if (!ranges.empty()) ranges += " UNION ALL ";
            ranges += fmt::format("SELECT {} FROM certificates WHERE common_name = ?1 AND {} AND {}",
                                  certificate_columns, range, valid);
        }
        return ranges + " LIMIT 1";
    }();
    auto statement = db_.prepare(sql);
    statement.bind(1, cn).bind(2, profile).bind(3, now).bind(4, device_key);
    if (!statement.step()) return std::nullopt;
    return certificate_from_row(statement);
}

int64_t Writer::insert_certificate(const CertificateRecord& record) {
    auto statement = db_.prepare(
        "INSERT INTO certificates (serial, profile, subject, common_name, product_key, "
        "device_key, asset_id, spki_sha256, fingerprint_sha256, not_before, not_after, "
        "issued_at, requester, der, issuer_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
        "?11, ?12, ?13, ?14, ?15) RETURNING id");
    statement.bind(1, record.serial)
        .bind(2, record.profile)
        .bind(3, record.subject)
        .bind(4, record.common_name)
        .bind(5, record.product_key)
        .bind(6, record.device_key)
        .bind(7, record.asset_id)
        .bind(8, record.spki_sha256)
        .bind(9, record.fingerprint_sha256)
        .bind(10, record.not_before)
        .bind(11, record.not_after)
        .bind(12, record.issued_at)
        .bind(13, record.requester)
        .bind(14, record.der)
        .bind(15, record.issuer_id);
    statement.step();
    const int64_t id = statement.integer(0);
    statement.run();
    db_.prepare("INSERT INTO key_bindings (spki_sha256, profile, device_key, common_name) "
                "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (spki_sha256) DO NOTHING")
        .bind(1, record.spki_sha256)
        .bind(2, record.profile)
        .bind(3, record.device_key)
        .bind(4, record.common_name)
        .run();
    return id;
}

std::optional<KeyBinding> Reader::key_binding(const std::string& spki_sha256) const {
    auto statement = db_.prepare(
        "SELECT spki_sha256, profile, device_key, common_name, compromised_at FROM key_bindings "
        "WHERE spki_sha256 = ?1");
    statement.bind(1, spki_sha256);
    if (!statement.step()) return std::nullopt;
    return KeyBinding{statement.text(0), statement.text(1), statement.optional_text(2), statement.text(3),
                      statement.optional_time(4)};
}

}  // namespace edgeca::store
