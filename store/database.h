// store/database.h — RAII access to one SQLite file: connections, statements, transactions.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <memory>
#include <vector>

namespace edgeca::store {

// A failure of the database itself. `unavailable()` tells a full disk, a read-only file or a
// lock held too long apart from a bug, so that callers can answer "try again later".
class StoreError : public std::runtime_error {
public:
    StoreError(const std::string& what, int sqlite_code)
        : std::runtime_error(what), sqlite_code_(sqlite_code) {}
    int sqlite_code() const { return sqlite_code_; }
    bool unavailable() const;
    bool constraint_violation() const { return (sqlite_code_ & 0xff) == SQLITE_CONSTRAINT; }

private:
    int sqlite_code_;
};

// Prepared statements kept by a connection for reuse: parsing SQL costs more than running most
// of ours.
class StatementCache {
public:
    explicit StatementCache(sqlite3* db) : db_(db) {}
    ~StatementCache();
    sqlite3_stmt* take(std::string_view sql);
    void give_back(std::string_view sql, sqlite3_stmt* stmt);

private:
    sqlite3* db_;
    std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle_;
};

class Statement {
public:
    Statement(sqlite3* db, std::string_view sql);
    Statement(sqlite3* db, StatementCache& cache, std::string_view sql);
    ~Statement();
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&&) = delete;
    Statement(const Statement&) = delete;

    // Parameters are 1-based, as in SQLite.
    Statement& bind(int index, int64_t value);
    Statement& bind(int index, std::string_view value);
    Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    Statement& bind(int index, std::span<const uint8_t> value);
    Statement& bind(int index, std::chrono::sys_seconds value);
    Statement& bind_null(int index);
    template <typename T>
    Statement& bind(int index, const std::optional<T>& value) {
        return value ? bind(index, *value) : bind_null(index);
    }

    // Advances to the next row; false when the statement is done.
    bool step();
    // Runs a statement that returns no rows.
    void run();
    // Makes the statement ready to run again with new bindings.
    void reset();

    bool is_null(int column) const;
    int64_t integer(int column) const;
    std::string text(int column) const;
    std::vector<uint8_t> blob(int column) const;
    std::span<const uint8_t> blob_view(int column) const;
    std::chrono::sys_seconds time(int column) const;
    std::optional<int64_t> optional_integer(int column) const;
    std::optional<std::string> optional_text(int column) const;
    std::optional<std::chrono::sys_seconds> optional_time(int column) const;

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_;
    StatementCache* cache_ = nullptr;  // where the statement goes back to, if cached
    std::string sql_;
};

class Database {
public:
    // Opens (and with `create`, creates) the file with WAL and synchronous=FULL, so that a
    // committed transaction survives a crash or a power loss.
    static Database open(const std::filesystem::path& path, bool create);

    ~Database();
    Database(Database&& other) noexcept;
    Database& operator=(Database&&) = delete;
    Database(const Database&) = delete;

    Statement prepare(std::string_view sql) const { return Statement(db_, *cache_, sql); }
    void exec(std::string_view sql) const;
    int64_t last_insert_rowid() const;
    int changes() const;
    const std::filesystem::path& path() const { return path_; }

private:
    Database(sqlite3* db, std::filesystem::path path)
        : db_(db), path_(std::move(path)), cache_(std::make_unique<StatementCache>(db)) {}
    sqlite3* db_;
    std::filesystem::path path_;
    std::unique_ptr<StatementCache> cache_;
};

// BEGIN IMMEDIATE on construction (the write lock is taken at once, so two writers never
// deadlock on an upgrade), ROLLBACK on destruction unless commit() was called.
class Transaction {
public:
    explicit Transaction(const Database& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    const Database& db_;
    bool done_ = false;
};

[[noreturn]] void throw_sqlite_error(sqlite3* db, int code, std::string_view context);

}  // namespace edgeca::store
