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

bool is_postgresql_url(std::string_view location) {
    return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string redact_url(std::string_view url) {
    // postgresql://user:password@host/... → postgresql://user:***@host/...
    auto scheme = url.find("://");
    if (scheme == std::string_view::npos) return std::string(url);
    auto at = url.find('@', scheme + 3);
    auto slash = url.find('/', scheme + 3);
    if (at == std::string_view::npos || (slash != std::string_view::npos && at > slash)) {
        std::string text(url);
        auto password = text.find("password=");
        if (password != std::string::npos) {
            auto end = text.find('&', password);
            text.replace(password + 9, end == std::string::npos ? std::string::npos : end - password - 9, "***");
        }
        return text;
    }
    auto colon = url.find(':', scheme + 3);
    if (colon == std::string_view::npos || colon > at) return std::string(url);
    return fmt::format("{}:***{}", url.substr(0, colon), url.substr(at));
}

std::string StoreLocation::describe() const { return on_server() ? redact_url(url) : file.string(); }

namespace {

// The password of a PostgreSQL store comes from libpq's usual places, never a URL that ends up
// in a command line, a log or a configuration file that others read.
Database connect(const std::string& url) {
    if (!is_postgresql_url(url)) {
        throw StoreError(fmt::format("'{}' is not a PostgreSQL URL (postgresql://...)", redact_url(url)),
                         StoreFailure::other);
    }
    if (redact_url(url) != url) {
        throw StoreError(fmt::format("the store URL {} holds a password: put it in PGPASSWORD or a "
                                     "passfile (~/.pgpass, PGPASSFILE) instead",
                                     redact_url(url)),
                         StoreFailure::other);
    }
    return Database::open_postgresql(url);
}

}  // namespace

namespace {

Database (*postgresql_opener)(const std::string&) = nullptr;

}  // namespace

void enable_postgresql(Database (*opener)(const std::string&)) { postgresql_opener = opener; }

Database Database::open_postgresql(const std::string& url) {
    if (postgresql_opener == nullptr) {
        throw StoreError("this program has no PostgreSQL engine: the offline root keeps its store in a SQLite file",
                         StoreFailure::other);
    }
    return postgresql_opener(url);
}

namespace {

}  // namespace

namespace {

// A new store goes into an empty database only: one that holds anything (another store, another
// application's tables) is refused.
void require_empty(const Database& db, const StoreLocation& location) {
    if (!db.connection().empty()) {
        throw StoreError(fmt::format("{} is not empty: a new store needs an empty database", location.describe()),
                         StoreFailure::exists);
    }
}

}  // namespace

void Store::check_can_create(const StoreLocation& location) {
    if (!location.on_server()) {
        if (std::filesystem::exists(location.file)) {
            throw StoreError(fmt::format("a store already exists at {}", location.file.string()), StoreFailure::exists);
        }
        return;
    }
    require_empty(connect(location.url), location);
}

Store Store::create(const StoreLocation& location) {
    if (!location.on_server()) return create(location.file);
    Database db = connect(location.url);
    require_empty(db, location);
    migrate(db);
    return Store(std::move(db), [url = location.url] { return connect(url); });
}

Store Store::open(const StoreLocation& location) {
    if (!location.on_server()) return open(location.file);
    Database db = connect(location.url);
    if (db.connection().empty()) {
        throw StoreError(fmt::format("no store in {}: run 'edgeca init' or 'edgeca store migrate' "
                                     "to make one",
                                     location.describe()),
                         StoreFailure::missing);
    }
    migrate(db);
    return Store(std::move(db), [url = location.url] { return connect(url); });
}

Store Store::create(const std::filesystem::path& path) {
    if (std::filesystem::exists(path)) {
        throw StoreError(fmt::format("a store already exists at {}", path.string()),
                         StoreFailure::exists);
    }
    Database db = Database::open_sqlite(path, true);
    migrate(db);
    return Store(std::move(db), [path] { return Database::open_sqlite(path, false); });
}

Store Store::open(const std::filesystem::path& path) {
    if (!std::filesystem::exists(path)) {
        throw StoreError(fmt::format("no store at {}", path.string()), StoreFailure::missing);
    }
    Database db = Database::open_sqlite(path, false);
    migrate(db);
    return Store(std::move(db), [path] { return Database::open_sqlite(path, false); });
}

int Store::schema_version() const {
    std::lock_guard lock(*mutex_);
    return db_.connection().schema_version();
}

std::string Store::integrity_check() const {
    std::lock_guard lock(*mutex_);
    return db_.connection().integrity_check();
}

Store::ReaderLease::ReaderLease(Readers& readers) : readers_(readers) {
    std::unique_lock lock(readers.mutex);
    readers.returned.wait(lock, [&] { return !readers.idle.empty() || readers.count < max_readers; });
    if (!readers.idle.empty()) {
        db_ = std::move(readers.idle.back());
        readers.idle.pop_back();
        return;
    }
    ++readers.count;  // this thread opens one, outside the lock
    lock.unlock();
    try {
        db_ = std::make_unique<Database>(readers.open());
    } catch (...) {
        lock.lock();
        --readers.count;
        readers.returned.notify_one();
        throw;
    }
}

Store::ReaderLease::~ReaderLease() {
    std::lock_guard lock(readers_.mutex);
    readers_.idle.push_back(std::move(db_));
    readers_.returned.notify_one();
}

namespace {

// More writes than this wait for the next batch, so that one batch's latency stays bounded.
constexpr size_t max_batch = 64;

}  // namespace

void Store::run_write(const std::function<void(Writer&)>& job) {
    PendingWrite mine{&job, nullptr, false};
    std::unique_lock lock(group_->mutex);
    group_->queue.push_back(&mine);
    while (!mine.done) {
        if (group_->committing) {
            group_->committed.wait(lock);
            continue;
        }
        // This thread commits what is queued, its own write among it or not.
        group_->committing = true;
        const size_t count = std::min(group_->queue.size(), max_batch);
        std::vector<PendingWrite*> batch(group_->queue.begin(), group_->queue.begin() + count);
        group_->queue.erase(group_->queue.begin(), group_->queue.begin() + count);
        lock.unlock();
        commit_batch(batch);
        lock.lock();
        for (auto* pending : batch) pending->done = true;
        group_->committing = false;
        group_->committed.notify_all();
    }
    if (mine.error) std::rethrow_exception(mine.error);
}

void Store::commit_batch(const std::vector<PendingWrite*>& batch) {
    std::lock_guard lock(*mutex_);
    try {
        Transaction transaction(db_);
        Writer writer(db_);
        if (batch.size() == 1) {
            try {
                (*batch.front()->job)(writer);
            } catch (...) {
                batch.front()->error = std::current_exception();
                return;  // rolled back
            }
        } else {
            for (auto* pending : batch) {
                db_.exec_with_next("SAVEPOINT edgeca_write");
                try {
                    (*pending->job)(writer);
                    db_.exec_with_next("RELEASE edgeca_write");
                } catch (...) {
                    pending->error = std::current_exception();
                    db_.exec("ROLLBACK TO edgeca_write");
                    db_.exec_with_next("RELEASE edgeca_write");
                }
            }
        }
        transaction.commit();
    } catch (...) {
        // The batch did not commit: none of its writes is kept.
        auto error = std::current_exception();
        for (auto* pending : batch) {
            if (!pending->error) pending->error = error;
        }
    }
}

}  // namespace edgeca::store

