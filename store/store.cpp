// store/store.cpp — opening and creating store files.
#include "store/store.h"

#include <fmt/format.h>

#include "store/schema.h"

namespace edgeca::store {

const char* to_string(CertificateStatus status) {
    switch (status) {
        case CertificateStatus::valid:
            return "valid";
        case CertificateStatus::revoked:
            return "revoked";
        case CertificateStatus::expired:
            return "expired";
    }
    return "unknown";
}

std::optional<CertificateStatus> certificate_status_from_string(const std::string& text) {
    if (text == "valid") return CertificateStatus::valid;
    if (text == "revoked") return CertificateStatus::revoked;
    if (text == "expired") return CertificateStatus::expired;
    return std::nullopt;
}

const char* to_string(Role role) { return role == Role::admin ? "admin" : "hub"; }

std::optional<Role> role_from_string(const std::string& text) {
    if (text == "admin") return Role::admin;
    if (text == "hub") return Role::hub;
    return std::nullopt;
}

Store Store::create(const std::filesystem::path& path) {
    if (std::filesystem::exists(path)) {
        throw StoreError(fmt::format("a store already exists at {}", path.string()),
                         SQLITE_CONSTRAINT);
    }
    Database db = Database::open(path, true);
    migrate(db);
    return Store(std::move(db));
}

Store Store::open(const std::filesystem::path& path) {
    if (!std::filesystem::exists(path)) {
        throw StoreError(fmt::format("no store at {}", path.string()), SQLITE_CANTOPEN);
    }
    Database db = Database::open(path, false);
    migrate(db);
    return Store(std::move(db));
}

int Store::schema_version() const {
    std::lock_guard lock(*mutex_);
    auto statement = db_.prepare("PRAGMA user_version");
    statement.step();
    return static_cast<int>(statement.integer(0));
}

std::string Store::integrity_check() const {
    std::lock_guard lock(*mutex_);
    auto statement = db_.prepare("PRAGMA integrity_check");
    std::string result;
    while (statement.step()) {
        if (!result.empty()) result += "; ";
        result += statement.text(0);
    }
    return result;
}

}  // namespace edgeca::store
