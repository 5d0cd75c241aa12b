// ca/device_registry.cpp — registering products and devices, with an audit entry for each.
#include "ca/device_registry.h"

#include <fmt/format.h>

#include "ca/errors.h"
#include "store/database.h"

namespace edgeca::ca {
namespace {

std::string random_asset_id(Botan::RandomNumberGenerator& rng) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    std::string id;
    for (uint8_t byte : rng.random_vec(12)) id.push_back(alphabet[byte % alphabet.size()]);
    return id;
}

}  // namespace

void check_identifier(const std::string& value, std::string_view field) {
    bool ok = !value.empty() && value.size() <= 64;
    for (char c : value) {
        ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                    c == ':' || c == '@' || c == '-');
    }
    if (!ok) {
        throw Error(ErrorKind::bad_input, fmt::format("{}_invalid", field),
                    fmt::format("{} must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':', "
                                "'@' and '-'",
                                field));
    }
}

store::ProductRecord DeviceRegistry::add_product(const Caller& caller, const NewProduct& p) {
    if (!caller.is_admin()) {
        throw Error(ErrorKind::forbidden, "admin_required", "only an admin may add a product");
    }
    check_identifier(p.product_key, "product_key");
    if (p.max_validity_days < 1 || p.max_validity_days > 36500) {
        throw Error(ErrorKind::bad_input, "max_validity_days_invalid",
                    "max_validity_days must be 1 to 36500");
    }
    if (p.name.size() > 256) {
        throw Error(ErrorKind::bad_input, "name_invalid", "a product name has at most 256 bytes");
    }
    store::ProductRecord record{p.product_key, p.name, p.max_validity_days, p.certificate_auth,
                                clock_.now(), caller.principal};
    try {
        store_.write([&](store::Writer& w) {
            w.insert_product(record);
            w.append_audit({caller.principal, "product-add", "", "", "ok",
                            fmt::format("product={} max_validity_days={} certificate_auth={}",
                                        record.product_key, record.max_validity_days,
                                        record.certificate_auth)});
        });
    } catch (const store::StoreError& e) {
        if (!e.constraint_violation()) throw;
        throw Error(ErrorKind::conflict, "product_exists",
                    fmt::format("product '{}' already exists", p.product_key));
    }
    return record;
}

store::DeviceRecord DeviceRegistry::add_device(const Caller& caller,
                                               const std::string& product_key,
                                               const std::string& device_key,
                                               const std::optional<std::string>& asset_id) {
    if (!caller.is_admin() && !caller.is_hub()) {
        throw Error(ErrorKind::forbidden, "role_required", "only a hub or an admin may register devices");
    }
    check_identifier(product_key, "product_key");
    check_identifier(device_key, "device_key");
    if (asset_id) check_identifier(*asset_id, "asset_id");
    store::DeviceRecord record{device_key, product_key, asset_id.value_or(random_asset_id(rng_)),
                               clock_.now(), caller.principal, std::nullopt};
    if (!caller.is_admin()) record.owner = caller.principal;
    store_.write([&](store::Writer& w) {
        if (!w.product(product_key)) {
            throw Error(ErrorKind::not_found, "product_not_found",
                        fmt::format("product '{}' does not exist; an admin adds it first "
                                    "(edgeca product add)",
                                    product_key));
        }
        if (auto existing = w.device(device_key)) {
            throw Error(ErrorKind::conflict, "device_exists",
                        fmt::format("device '{}' is already registered (product '{}')",
                                    device_key, existing->product_key));
        }
        if (w.device_by_asset_id(record.asset_id)) {
            throw Error(ErrorKind::conflict, "device_exists",
                        fmt::format("asset id '{}' belongs to another device", record.asset_id));
        }
        w.insert_device(record);
        w.append_audit({caller.principal, "device-add", "", "", "ok",
                        fmt::format("product={} device={} asset={} owner={}", product_key,
                                    device_key, record.asset_id, record.owner.value_or("-"))});
    });
    return record;
}

std::optional<store::ProductRecord> DeviceRegistry::product(const std::string& product_key) const {
    return store_.read([&](const store::Reader& r) { return r.product(product_key); });
}

std::optional<store::DeviceRecord> DeviceRegistry::device(const std::string& device_key) const {
    return store_.read([&](const store::Reader& r) { return r.device(device_key); });
}

std::optional<store::DeviceRecord> DeviceRegistry::device(const Caller& caller,
                                                          const std::string& device_key) const {
    if (!caller.is_admin() && !caller.is_hub()) {
        throw Error(ErrorKind::unauthenticated, "authentication_required",
                    "present a client certificate on the access list");
    }
    auto record = device(device_key);
    if (record && !caller.is_admin() && record->owner && *record->owner != caller.principal) {
        return std::nullopt;
    }
    return record;
}

std::vector<store::DeviceRecord> DeviceRegistry::devices(const Caller& caller,
                                                         const std::optional<std::string>& product_key,
                                                         const std::string& after_device_key,
                                                         int limit) const {
    if (!caller.is_admin() && !caller.is_hub()) {
        throw Error(ErrorKind::unauthenticated, "authentication_required",
                    "present a client certificate on the access list");
    }
    std::optional<std::string> visible_to;
    if (!caller.is_admin()) visible_to = caller.principal;
    return store_.read([&](const store::Reader& r) {
        return r.devices(product_key, after_device_key, limit, visible_to);
    });
}

}  // namespace edgeca::ca
