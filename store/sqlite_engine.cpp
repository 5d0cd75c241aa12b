// store/sqlite_engine.cpp — the SQLite engine: the embedded default, one file in the data
// directory.
#include <sqlite3.h>

#include "store/database.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "store/schema.h"

namespace edgeca::store {

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

StoreFailure failure_of(int code) {
    switch (code & 0xff) {
        case SQLITE_CONSTRAINT:
            return StoreFailure::constraint;
        case SQLITE_FULL:
        case SQLITE_READONLY:
        case SQLITE_IOERR:
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_CANTOPEN:
        case SQLITE_PERM:
            return StoreFailure::unavailable;
        case SQLITE_NOTADB:
            return StoreFailure::not_a_store;
        default:
            return StoreFailure::other;
    }
}

[[noreturn]] void throw_sqlite_error(sqlite3* db, int code, std::string_view context) {
    const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    throw StoreError(fmt::format("{}: {}", context, message), failure_of(code));
}

// Prepared statements kept by a connection for reuse: parsing SQL costs more than running most
// of ours.
class StatementCache {
public:
    explicit StatementCache(sqlite3* db) : db_(db) {}
    ~StatementCache() {
        for (auto& [sql, statements] : idle_) {
            for (auto* stmt : statements) sqlite3_finalize(stmt);
        }
    }
    StatementCache(const StatementCache&) = delete;
    StatementCache& operator=(const StatementCache&) = delete;

    sqlite3_stmt* take(std::string_view sql) {
        auto it = idle_.find(std::string(sql));
        if (it != idle_.end() && !it->second.empty()) {
            sqlite3_stmt* stmt = it->second.back();
            it->second.pop_back();
            return stmt;
        }
        sqlite3_stmt* stmt = nullptr;
        int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
        if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, fmt::format("preparing '{}'", sql));
        return stmt;
    }

    void give_back(const std::string& sql, sqlite3_stmt* stmt) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        idle_[sql].push_back(stmt);
    }

private:
    sqlite3* db_;
    std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle_;
};

class SqliteStatement final : public engine::Statement {
public:
    SqliteStatement(sqlite3* db, StatementCache& cache, std::string_view sql)
        : db_(db), stmt_(cache.take(sql)), cache_(cache), sql_(sql) {}
    ~SqliteStatement() override { cache_.give_back(sql_, stmt_); }

    void bind(int index, int64_t value) override {
        check(sqlite3_bind_int64(stmt_, index, value), "binding an integer");
    }
    void bind(int index, std::string_view value) override {
        check(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                                  SQLITE_UTF8),
              "binding a text");
    }
    void bind(int index, std::span<const uint8_t> value) override {
        // A zero-length blob must still be a blob, not NULL: SQLite treats a null pointer as NULL.
        static const uint8_t empty = 0;
        const void* data = value.empty() ? &empty : value.data();
        check(sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT),
              "binding a blob");
    }
    void bind_null(int index) override { check(sqlite3_bind_null(stmt_, index), "binding NULL"); }

    bool step() override {
        int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw_sqlite_error(db_, rc, "executing a statement");
    }
    void reset() override {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }

    bool is_null(int column) const override {
        return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
    }
    int64_t integer(int column) const override { return sqlite3_column_int64(stmt_, column); }
    std::string text(int column) const override {
        const auto* p = sqlite3_column_text(stmt_, column);
        int n = sqlite3_column_bytes(stmt_, column);
        return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
    }
    std::span<const uint8_t> blob_view(int column) const override {
        const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, column));
        int n = sqlite3_column_bytes(stmt_, column);
        return p == nullptr ? std::span<const uint8_t>() : std::span<const uint8_t>(p, n);
    }
    int column_count() const override { return sqlite3_column_count(stmt_); }
    std::string column_name(int column) const override { return sqlite3_column_name(stmt_, column); }
    ValueKind kind(int column) const override {
        switch (sqlite3_column_type(stmt_, column)) {
            case SQLITE_NULL:
                return ValueKind::null;
            case SQLITE_INTEGER:
                return ValueKind::integer;
            case SQLITE_BLOB:
                return ValueKind::blob;
            default:
                return ValueKind::text;
        }
    }

private:
    void check(int rc, std::string_view context) {
        if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, context);
    }

    sqlite3* db_;
    sqlite3_stmt* stmt_;
    StatementCache& cache_;
    std::string sql_;
};

class SqliteConnection final : public engine::Connection {
public:
    SqliteConnection(sqlite3* db, std::filesystem::path path)
        : db_(db), path_(std::move(path)), cache_(std::make_unique<StatementCache>(db)) {}
    ~SqliteConnection() override {
        cache_.reset();  // statements are finalized before their connection closes
        sqlite3_close_v2(db_);
    }

    std::unique_ptr<engine::Statement> prepare(std::string_view sql) override {
        return std::make_unique<SqliteStatement>(db_, *cache_, sql);
    }

    void exec(std::string_view sql) override {
        const auto failed = [sql](const std::string& message, StoreFailure failure) {
            return StoreError(fmt::format("executing '{}': {}", sql.substr(0, 60), message),
                              failure);
        };
        // One statement (BEGIN, COMMIT, SAVEPOINT... run for every transaction) is taken from
        // the cache: parsing BEGIN or RELEASE again each time costs more than running it.
        // Several statements (a migration) go to sqlite3_exec, which prepares each in turn.
        if (sql.find(';') == std::string_view::npos) {
            sqlite3_stmt* stmt = nullptr;
            try {
                stmt = cache_->take(sql);
            } catch (const StoreError& e) {
                throw failed(sqlite3_errmsg(db_), e.failure());
            }
            if (stmt == nullptr) return;  // only blanks or a comment
            int rc = SQLITE_ROW;
            while (rc == SQLITE_ROW) rc = sqlite3_step(stmt);
            const std::string message = rc == SQLITE_DONE ? std::string() : sqlite3_errmsg(db_);
            cache_->give_back(std::string(sql), stmt);
            if (rc != SQLITE_DONE) throw failed(message, failure_of(rc));
            return;
        }
        std::string owned(sql);
        char* error = nullptr;
        int rc = sqlite3_exec(db_, owned.c_str(), nullptr, nullptr, &error);
        if (rc != SQLITE_OK) {
            std::string message = error != nullptr ? error : sqlite3_errstr(rc);
            sqlite3_free(error);
            throw failed(message, failure_of(rc));
        }
    }

    int changes() const override { return sqlite3_changes(db_); }

    // BEGIN IMMEDIATE: the write lock is taken at once, so two writers never deadlock on an
    // upgrade; a writer in another process waits up to the busy timeout.
    void begin_write() override { exec("BEGIN IMMEDIATE"); }
    void begin_read() override { exec("BEGIN DEFERRED"); }
    void commit() override { exec("COMMIT"); }
    void rollback() noexcept override {
        try {
            exec("ROLLBACK");
        } catch (const StoreError&) {
            // The transaction may already be gone (SQLite rolls back on some I/O errors).
        }
    }

    void migrate(int target) override {
        if (target == 0) target = current_schema_version();
        int app = pragma("application_id");
        int version = pragma("user_version");
        if (app != application_id && !(version == 0 && empty())) {
            throw StoreError(fmt::format("{} is not an edgeca store (application_id {:#x})",
                                         path_.string(), app),
                             StoreFailure::not_a_store);
        }
        if (version > current_schema_version()) {
            throw StoreError(fmt::format("{} has schema version {}, newer than this build's {}: "
                                         "use a newer edgeca",
                                         path_.string(), version, current_schema_version()),
                             StoreFailure::too_new);
        }
        for (const auto& migration : sqlite_migrations()) {
            if (migration.version <= version || migration.version > target) continue;
            begin_write();
            try {
                exec(migration.sql);
                exec(fmt::format("PRAGMA application_id={}", application_id));
                exec(fmt::format("PRAGMA user_version={}", migration.version));
                commit();
            } catch (...) {
                rollback();
                throw;
            }
        }
    }

    int schema_version() override { return pragma("user_version"); }

    std::string integrity_check() override {
        SqliteStatement statement(db_, *cache_, "PRAGMA integrity_check");
        std::string result;
        while (statement.step()) {
            if (!result.empty()) result += "; ";
            result += statement.text(0);
        }
        return result;
    }

    bool empty() override {
        SqliteStatement statement(db_, *cache_, "SELECT count(*) FROM sqlite_master");
        statement.step();
        return statement.integer(0) == 0;
    }

    std::string_view engine() const override { return "sqlite"; }
    std::string describe() const override { return path_.string(); }
    std::string index_hint(std::string_view index) const override {
        return fmt::format("INDEXED BY {}", index);
    }
    std::vector<std::string> tables() override {
        SqliteStatement statement(db_, *cache_,
                                  "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                                  "ORDER BY name");
        std::vector<std::string> names;
        while (statement.step()) names.push_back(statement.text(0));
        return names;
    }
    void after_copy() override {}  // AUTOINCREMENT continues after the largest id by itself

private:
    int pragma(std::string_view name) {
        SqliteStatement statement(db_, *cache_, fmt::format("PRAGMA {}", name));
        statement.step();
        return static_cast<int>(statement.integer(0));
    }

    sqlite3* db_;
    std::filesystem::path path_;
    std::unique_ptr<StatementCache> cache_;
};

}  // namespace

Database Database::open_sqlite(const std::filesystem::path& path, bool create) {
    sqlite3* db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        throw StoreError(fmt::format("cannot open the store {}: {}", path.string(), message),
                         failure_of(rc));
    }
    Database database(std::make_unique<SqliteConnection>(db, path), path);
    // SQLite falls back to read-only when it cannot write, and says so only at the first write,
    // without naming the file or the cause: say both now.
    if (sqlite3_db_readonly(db, "main") == 1) {
        throw StoreError(fmt::format("the store {} cannot be written: {}", path.string(), why_not_writable(path)),
                         StoreFailure::unavailable);
    }
    sqlite3_extended_result_codes(db, 1);
    // Another process (an admin subcommand beside `serve`) may hold the write lock briefly.
    sqlite3_busy_timeout(db, 10000);
    database.exec("PRAGMA journal_mode=WAL");
    database.exec("PRAGMA synchronous=FULL");
    database.exec("PRAGMA foreign_keys=ON");
    // SQLite copies the log back into the file inside the COMMIT that takes the log past this
    // many pages, before that COMMIT returns: the writes queued for the next group commit wait
    // for it. On a store of a million certificates those pages lie all over the file, and at
    // SQLite's default of 1,000 pages each such checkpoint stalled the commits for tens of
    // milliseconds (its fdatasync of the file alone took 12 ms here). At a quarter of that size
    // each stall is shorter, for more checkpoints: a storm's p99 on such a store fell from 32 ms
    // to 18.6-22.6 ms (docs/benchmarks.md, "Checkpoints on a large store").
    database.exec(fmt::format("PRAGMA wal_autocheckpoint={}", wal_checkpoint_pages));
    return database;
}

}  // namespace edgeca::store
