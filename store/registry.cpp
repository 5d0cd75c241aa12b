// store/registry.cpp — settings, products and devices of the issuing CA.
#include <fmt/format.h>

#include "store/store.h"

namespace edgeca::store {
namespace {

ProductRecord product_from_row(const Statement& row) {
    return {row.text(0), row.text(1), static_cast<int>(row.integer(2)), row.integer(3) != 0,
            row.time(4), row.text(5)};
}

DeviceRecord device_from_row(const Statement& row) {
    return {row.text(0), row.text(1), row.text(2), row.time(3), row.text(4), row.optional_text(5)};
}

constexpr std::string_view product_columns =
    "product_key, name, max_validity_days, certificate_auth, created_at, created_by";
constexpr std::string_view device_columns =
    "device_key, product_key, asset_id, created_at, created_by, owner";

}  // namespace

std::optional<std::string> Reader::meta(const std::string& key) const {
    auto statement = db_.prepare("SELECT value FROM meta WHERE key = ?1");
    statement.bind(1, key);
    if (!statement.step()) return std::nullopt;
    return statement.text(0);
}

void Writer::set_meta(const std::string& key, const std::string& value) {
    db_.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .bind(1, key)
        .bind(2, value)
        .run();
}

std::optional<ProductRecord> Reader::product(const std::string& product_key) const {
    auto statement = db_.prepare(
        fmt::format("SELECT {} FROM products WHERE product_key = ?1", product_columns));
    statement.bind(1, product_key);
    if (!statement.step()) return std::nullopt;
    return product_from_row(statement);
}

std::vector<ProductRecord> Reader::products() const {
    auto statement =
        db_.prepare(fmt::format("SELECT {} FROM products ORDER BY product_key", product_columns));
    std::vector<ProductRecord> products;
    while (statement.step()) products.push_back(product_from_row(statement));
    return products;
}

void Writer::insert_product(const ProductRecord& p) {
    db_.prepare(fmt::format("INSERT INTO products ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            product_columns))
        .bind(1, p.product_key)
        .bind(2, p.name)
        .bind(3, static_cast<int64_t>(p.max_validity_days))
        .bind(4, static_cast<int64_t>(p.certificate_auth ? 1 : 0))
        .bind(5, p.created_at)
        .bind(6, p.created_by)
        .run();
}

std::optional<DeviceRecord> Reader::device(const std::string& device_key) const {
    auto statement =
        db_.prepare(fmt::format("SELECT {} FROM devices WHERE device_key = ?1", device_columns));
    statement.bind(1, device_key);
    if (!statement.step()) return std::nullopt;
    return device_from_row(statement);
}

std::optional<DeviceRecord> Reader::device_by_asset_id(const std::string& asset_id) const {
    auto statement =
        db_.prepare(fmt::format("SELECT {} FROM devices WHERE asset_id = ?1", device_columns));
    statement.bind(1, asset_id);
    if (!statement.step()) return std::nullopt;
    return device_from_row(statement);
}

std::vector<DeviceRecord> Reader::devices(const std::optional<std::string>& product_key,
                                          const std::string& after_device_key, int limit,
                                          const std::optional<std::string>& visible_to) const {
    auto statement = db_.prepare(fmt::format(
        "SELECT {} FROM devices WHERE (CAST(?1 AS TEXT) IS NULL OR product_key = ?1) AND device_key > ?2 "
        "AND (CAST(?4 AS TEXT) IS NULL OR owner IS NULL OR owner = ?4) ORDER BY device_key LIMIT ?3",
        device_columns));
    statement.bind(1, product_key)
        .bind(2, after_device_key)
        .bind(3, static_cast<int64_t>(limit))
        .bind(4, visible_to);
    std::vector<DeviceRecord> devices;
    while (statement.step()) devices.push_back(device_from_row(statement));
    return devices;
}

void Writer::insert_device(const DeviceRecord& d) {
    db_.prepare(fmt::format("INSERT INTO devices ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", device_columns))
        .bind(1, d.device_key)
        .bind(2, d.product_key)
        .bind(3, d.asset_id)
        .bind(4, d.created_at)
        .bind(5, d.created_by)
        .bind(6, d.owner)
        .run();
}

bool Writer::claim_device(const std::string& device_key, const std::string& owner) {
    db_.prepare("UPDATE devices SET owner = ?2 WHERE device_key = ?1 AND owner IS NULL")
        .bind(1, device_key)
        .bind(2, owner)
        .run();
    return db_.changes() == 1;
}

std::optional<std::pair<std::string, int64_t>> Reader::lease(const std::string& name) const {
    auto statement = db_.prepare("SELECT holder, expires_at_ms FROM leases WHERE name = ?1");
    statement.bind(1, name);
    if (!statement.step()) return std::nullopt;
    return std::pair{statement.text(0), statement.integer(1)};
}

bool Writer::take_lease(const std::string& name, const std::string& holder,
                        std::chrono::milliseconds now, std::chrono::milliseconds ttl) {
    // Writers run one at a time (Connection::begin_write): the read and the write below see
    // the same row.
    auto current = lease(name);
    if (current && current->first != holder && current->second > now.count()) return false;
    db_.prepare("INSERT INTO leases (name, holder, expires_at_ms) VALUES (?1, ?2, ?3) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                "expires_at_ms = excluded.expires_at_ms")
        .bind(1, name)
        .bind(2, holder)
        .bind(3, static_cast<int64_t>((now + ttl).count()))
        .run();
    return true;
}

}  // namespace edgeca::store
