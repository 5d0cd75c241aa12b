// store/database.h — one connection to a store's database, whichever engine holds it:
// statements, transactions, and the few places where SQLite and PostgreSQL differ. Nothing
// outside store/ sees an engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace edgeca::store {

// What went wrong, in the terms a caller acts on.
enum class StoreFailure {
    constraint,   // a unique or check constraint refused the write
    unavailable,  // a full disk, a read-only file, a lock held too long, a lost server: retry later
    not_a_store,  // the file or database holds something else
    too_new,      // written by a newer build
    missing,      // no store where one was expected
    exists,       // a store where none was expected
    other,        // a bug, or a statement the engine refused
};

// A failure of the database itself. `unavailable()` tells a full disk, a read-only file, a lock
// held too long or a database server out of reach apart from a bug, so that callers can answer
// "try again later".
class StoreError : public std::runtime_error {
public:
    StoreError(const std::string& what, StoreFailure failure)
        : std::runtime_error(what), failure_(failure) {}
    StoreFailure failure() const { return failure_; }
    bool unavailable() const { return failure_ == StoreFailure::unavailable; }
    bool constraint_violation() const { return failure_ == StoreFailure::constraint; }

private:
    StoreFailure failure_;
};

// The type of one value in a row.
enum class ValueKind { null, integer, text, blob };

namespace engine {

// One prepared statement of one engine. Parameters are 1-based; columns 0-based.
class Statement {
public:
    virtual ~Statement() = default;
    virtual void bind(int index, int64_t value) = 0;
    virtual void bind(int index, std::string_view value) = 0;
    virtual void bind(int index, std::span<const uint8_t> value) = 0;
    virtual void bind_null(int index) = 0;
    virtual bool step() = 0;
    virtual void reset() = 0;
    virtual bool is_null(int column) const = 0;
    virtual int64_t integer(int column) const = 0;
    virtual std::string text(int column) const = 0;
    virtual std::span<const uint8_t> blob_view(int column) const = 0;
    virtual int column_count() const = 0;
    virtual std::string column_name(int column) const = 0;
    virtual ValueKind kind(int column) const = 0;
};

// One connection of one engine. SQL is written once, in the dialect both engines share
// (numbered parameters ?1, ?2..., ON CONFLICT, RETURNING); the few differences are here.
class Connection {
public:
    virtual ~Connection() = default;
    virtual std::unique_ptr<Statement> prepare(std::string_view sql) = 0;
    virtual void exec(std::string_view sql) = 0;
    // Runs `sql`, a command without rows that fails only when the connection does (SAVEPOINT,
    // RELEASE), no later than the next statement: an engine that waits for a server's answer
    // sends the two at once, and a failure of `sql` is then reported by the next statement.
    virtual void exec_with_next(std::string_view sql) { exec(sql); }
    // Rows changed by the last INSERT, UPDATE or DELETE.
    virtual int changes() const = 0;
    // A write transaction: one writer at a time across every process on the database, so that
    // what a writer read is still true when it commits.
    virtual void begin_write() = 0;
    // A read transaction over one consistent snapshot, ended by end_read (or rollback).
    virtual void begin_read() = 0;
    // Ends a read transaction. An engine that waits for a server's answer reads it before the
    // connection's next command: a read has nothing to make durable.
    virtual void end_read() { commit(); }
    // Commits a write transaction, durably, before it returns.
    virtual void commit() = 0;
    virtual void rollback() noexcept = 0;
    // Applies every migration above the database's version up to `target` (0: the newest).
    virtual void migrate(int target) = 0;
    virtual int schema_version() = 0;
    // "ok" when the engine finds the database sound.
    virtual std::string integrity_check() = 0;
    // Whether the database holds no tables at all.
    virtual bool empty() = 0;
    // "sqlite" or "postgresql".
    virtual std::string_view engine() const = 0;
    // Where the database is, for messages: the file, or the server and database without the
    // password.
    virtual std::string describe() const = 0;
    // The engine's way to make a query use one index ("" where the planner needs no hint).
    virtual std::string index_hint(std::string_view index) const = 0;
    // The store's tables (without the engine's own bookkeeping).
    virtual std::vector<std::string> tables() = 0;
    // After rows were copied in with their ids: the next id comes after the largest.
    virtual void after_copy() = 0;
};

}  // namespace engine

class Statement {
public:
    explicit Statement(std::unique_ptr<engine::Statement> impl) : impl_(std::move(impl)) {}

    Statement& bind(int index, int64_t value) {
        impl_->bind(index, value);
        return *this;
    }
    Statement& bind(int index, std::string_view value) {
        impl_->bind(index, value);
        return *this;
    }
    Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
    Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    Statement& bind(int index, std::span<const uint8_t> value) {
        impl_->bind(index, value);
        return *this;
    }
    Statement& bind(int index, const std::vector<uint8_t>& value) {
        return bind(index, std::span<const uint8_t>(value));
    }
    Statement& bind(int index, std::chrono::sys_seconds value) {
        return bind(index, static_cast<int64_t>(value.time_since_epoch().count()));
    }
    Statement& bind_null(int index) {
        impl_->bind_null(index);
        return *this;
    }
    template <typename T>
    Statement& bind(int index, const std::optional<T>& value) {
        return value ? bind(index, *value) : bind_null(index);
    }

    // Advances to the next row; false when the statement is done.
    bool step() { return impl_->step(); }
    // Runs a statement that returns no rows.
    void run() {
        while (step()) {
        }
    }
    // Makes the statement ready to run again with new bindings.
    void reset() { impl_->reset(); }

    bool is_null(int column) const { return impl_->is_null(column); }
    int64_t integer(int column) const { return impl_->integer(column); }
    std::string text(int column) const { return impl_->text(column); }
    std::span<const uint8_t> blob_view(int column) const { return impl_->blob_view(column); }
    int column_count() const { return impl_->column_count(); }
    std::string column_name(int column) const { return impl_->column_name(column); }
    ValueKind kind(int column) const { return impl_->kind(column); }
    std::vector<uint8_t> blob(int column) const {
        auto view = blob_view(column);
        return {view.begin(), view.end()};
    }
    std::chrono::sys_seconds time(int column) const {
        return std::chrono::sys_seconds(std::chrono::seconds(integer(column)));
    }
    std::optional<int64_t> optional_integer(int column) const {
        if (is_null(column)) return std::nullopt;
        return integer(column);
    }
    std::optional<std::string> optional_text(int column) const {
        if (is_null(column)) return std::nullopt;
        return text(column);
    }
    std::optional<std::chrono::sys_seconds> optional_time(int column) const {
        if (is_null(column)) return std::nullopt;
        return time(column);
    }

private:
    std::unique_ptr<engine::Statement> impl_;
};

// A SQLite store's log is copied back into its file once it holds this many pages (SQLite's
// default: 1,000).
inline constexpr int wal_checkpoint_pages = 250;

class Database {
public:
    // Opens (and with `create`, creates) a SQLite file with WAL and synchronous=FULL, so that a
    // committed transaction survives a crash or a power loss; the log is checkpointed every
    // wal_checkpoint_pages pages.
    static Database open_sqlite(const std::filesystem::path& path, bool create);
    // Connects to a PostgreSQL database named by a libpq URL ("postgresql://..."); the password
    // comes from libpq's usual places (PGPASSWORD, the passfile), never the URL's text in logs.
    static Database open_postgresql(const std::string& url);

    explicit Database(std::unique_ptr<engine::Connection> connection, std::filesystem::path path = {})
        : connection_(std::move(connection)), path_(std::move(path)) {}

    Statement prepare(std::string_view sql) const { return Statement(connection_->prepare(sql)); }
    void exec(std::string_view sql) const { connection_->exec(sql); }
    void exec_with_next(std::string_view sql) const { connection_->exec_with_next(sql); }
    int changes() const { return connection_->changes(); }
    engine::Connection& connection() const { return *connection_; }
    // The SQLite file; empty for a database on a server.
    const std::filesystem::path& path() const { return path_; }
    std::string describe() const { return connection_->describe(); }
    std::string index_hint(std::string_view index) const { return connection_->index_hint(index); }

private:
    std::unique_ptr<engine::Connection> connection_;
    std::filesystem::path path_;
};

// A write transaction from construction (see Connection::begin_write), rolled back on
// destruction unless commit() was called.
class Transaction {
public:
    explicit Transaction(const Database& db) : db_(db) { db_.connection().begin_write(); }
    ~Transaction() {
        if (!done_) db_.connection().rollback();
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit() {
        db_.connection().commit();
        done_ = true;
    }

private:
    const Database& db_;
    bool done_ = false;
};

// Links the PostgreSQL engine (libpq) into a program: edgeca calls it first thing; the offline
// root never does, so that it links no network library. Without it open_postgresql refuses.
void enable_postgresql();
void enable_postgresql(Database (*opener)(const std::string& url));

// Whether `location` names a PostgreSQL database rather than a SQLite file.
bool is_postgresql_url(std::string_view location);

// The URL without its password, for messages and logs.
std::string redact_url(std::string_view url);

}  // namespace edgeca::store
