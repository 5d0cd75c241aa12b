// store/database.cpp — the thin RAII layer over the SQLite C API.
#include "store/database.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace edgeca::store {

bool StoreError::unavailable() const {
    switch (sqlite_code_ & 0xff) {
        case SQLITE_FULL:
        case SQLITE_READONLY:
        case SQLITE_IOERR:
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_CANTOPEN:
        case SQLITE_PERM:
            return true;
        default:
            return false;
    }
}

namespace {

// The operating system's reason why a store file (or the directory where SQLite keeps its
// -wal and -shm files beside it) cannot be written.
std::string why_not_writable(const std::filesystem::path& path) {
    for (const auto& candidate : {path, path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path()}) {
        if (::access(candidate.c_str(), W_OK) != 0) {
            return fmt::format("{}: {}", candidate.string(), std::strerror(errno));
        }
    }
    return "it was opened read-only";
}

}  // namespace

void throw_sqlite_error(sqlite3* db, int code, std::string_view context) {
    const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    throw StoreError(fmt::format("{}: {}", context, message), code);
}

StatementCache::~StatementCache() {
    for (auto& [sql, statements] : idle_) {
        for (auto* stmt : statements) sqlite3_finalize(stmt);
    }
}

sqlite3_stmt* StatementCache::take(std::string_view sql) {
    auto it = idle_.find(std::string(sql));
    if (it != idle_.end() && !it->second.empty()) {
        sqlite3_stmt* stmt = it->second.back();
        it->second.pop_back();
        return stmt;
    }
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                &stmt, nullptr);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, fmt::format("preparing '{}'", sql));
    return stmt;
}

void StatementCache::give_back(std::string_view sql, sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    idle_[std::string(sql)].push_back(stmt);
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db), stmt_(nullptr) {
    int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), 0, &stmt_, nullptr);
    if (rc != SQLITE_OK) throw_sqlite_error(db, rc, fmt::format("preparing '{}'", sql));
}

Statement::Statement(sqlite3* db, StatementCache& cache, std::string_view sql)
    : db_(db), stmt_(cache.take(sql)), cache_(&cache), sql_(sql) {}

Statement::~Statement() {
    if (stmt_ == nullptr) return;
    if (cache_ != nullptr) {
        cache_->give_back(sql_, stmt_);
    } else {
        sqlite3_finalize(stmt_);
    }
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), cache_(other.cache_), sql_(std::move(other.sql_)) {
    other.stmt_ = nullptr;
}

Statement& Statement::bind(int index, int64_t value) {
    int rc = sqlite3_bind_int64(stmt_, index, value);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "binding an integer");
    return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
    int rc = sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                                 SQLITE_UTF8);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "binding a text");
    return *this;
}

Statement& Statement::bind(int index, std::span<const uint8_t> value) {
    // A zero-length blob must still be a blob, not NULL: SQLite treats a null pointer as NULL.
    static const uint8_t empty = 0;
    const void* data = value.empty() ? &empty : value.data();
    int rc = sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "binding a blob");
    return *this;
}

Statement& Statement::bind(int index, std::chrono::sys_seconds value) {
    return bind(index, static_cast<int64_t>(value.time_since_epoch().count()));
}

Statement& Statement::bind_null(int index) {
    int rc = sqlite3_bind_null(stmt_, index);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "binding NULL");
    return *this;
}

bool Statement::step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_sqlite_error(db_, rc, "executing a statement");
}

void Statement::run() {
    while (step()) {
    }
}

void Statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::text(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    int n = sqlite3_column_bytes(stmt_, column);
    return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

std::span<const uint8_t> Statement::blob_view(int column) const {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, column));
    int n = sqlite3_column_bytes(stmt_, column);
    return p == nullptr ? std::span<const uint8_t>() : std::span<const uint8_t>(p, n);
}

std::vector<uint8_t> Statement::blob(int column) const {
    auto view = blob_view(column);
    return {view.begin(), view.end()};
}

std::chrono::sys_seconds Statement::time(int column) const {
    return std::chrono::sys_seconds(std::chrono::seconds(integer(column)));
}

std::optional<int64_t> Statement::optional_integer(int column) const {
    if (is_null(column)) return std::nullopt;
    return integer(column);
}

std::optional<std::string> Statement::optional_text(int column) const {
    if (is_null(column)) return std::nullopt;
    return text(column);
}

std::optional<std::chrono::sys_seconds> Statement::optional_time(int column) const {
    if (is_null(column)) return std::nullopt;
    return time(column);
}

Database Database::open(const std::filesystem::path& path, bool create) {
    sqlite3* db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        throw StoreError(fmt::format("cannot open the store {}: {}", path.string(), message), rc);
    }
    Database database(db, path);
    // SQLite falls back to read-only when it cannot write, and says so only at the first write,
    // without naming the file or the cause: say both now.
    if (sqlite3_db_readonly(db, "main") == 1) {
        throw StoreError(fmt::format("the store {} cannot be written: {}", path.string(), why_not_writable(path)),
                         SQLITE_READONLY);
    }
    sqlite3_extended_result_codes(db, 1);
    // Another process (an admin subcommand beside `serve`) may hold the write lock briefly.
    sqlite3_busy_timeout(db, 10000);
    database.exec("PRAGMA journal_mode=WAL");
    database.exec("PRAGMA synchronous=FULL");
    database.exec("PRAGMA foreign_keys=ON");
    return database;
}

Database::~Database() {
    cache_.reset();  // statements are finalized before their connection closes
    if (db_ != nullptr) sqlite3_close_v2(db_);
}

Database::Database(Database&& other) noexcept
    : db_(other.db_), path_(std::move(other.path_)), cache_(std::move(other.cache_)) {
    other.db_ = nullptr;
}

void Database::exec(std::string_view sql) const {
    std::string owned(sql);
    char* error = nullptr;
    int rc = sqlite3_exec(db_, owned.c_str(), nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
        std::string message = error != nullptr ? error : sqlite3_errstr(rc);
        sqlite3_free(error);
        throw StoreError(fmt::format("executing '{}': {}", sql.substr(0, 60), message), rc);
    }
}

int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

int Database::changes() const { return sqlite3_changes(db_); }

Transaction::Transaction(const Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
    if (!done_) {
        try {
            db_.exec("ROLLBACK");
        } catch (const StoreError&) {
            // The transaction may already be gone (SQLite rolls back on some I/O errors).
        }
    }
}

void Transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

}  // namespace edgeca::store
