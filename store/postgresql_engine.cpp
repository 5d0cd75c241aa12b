// store/postgresql_engine.cpp — the PostgreSQL engine, through libpq: several edgeca nodes on
// one database. Every write transaction first takes one transaction-scoped advisory lock, so
// that writers on every node run one after another exactly as SQLite's single writer does: what
// a writer read (the audit chain's head, a CN's holder, a token's state) is still true when it
// commits. Reads run on a REPEATABLE READ snapshot and take no lock. Round trips are what a node
// waits for: the commands that fail only with the connection (a read's BEGIN, a group commit's
// SAVEPOINT and RELEASE) go with the next statement in one round trip, and a read's COMMIT is
// not waited for.
#include <fmt/format.h>
#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <unordered_map>

#include "store/database.h"
#include "store/schema.h"

namespace edgeca::store {
namespace {

// The key of the one advisory lock writers take: the store's application id.
constexpr int64_t writer_lock = application_id;

// How long a writer waits for the lock (or a row lock) before the caller is told to try again
// later, as SQLite's busy timeout does.
constexpr std::string_view lock_timeout = "10s";

StoreFailure failure_of_sqlstate(const char* sqlstate) {
    if (sqlstate == nullptr) return StoreFailure::unavailable;  // no answer: the server is gone
    std::string_view state(sqlstate);
    if (state.starts_with("23")) return StoreFailure::constraint;
    // Connection exceptions, the server shutting down or out of resources, a lock not
    // obtained in time, a serialization failure, a read-only server (a standby after failover).
    if (state.starts_with("08") || state.starts_with("57P") || state.starts_with("53") ||
        state == "55P03" || state == "40001" || state == "40P01" || state == "25006") {
        return StoreFailure::unavailable;
    }
    return StoreFailure::other;
}

std::string first_line(const char* message) {
    std::string text = message != nullptr ? message : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

// The failure of `result` (or of the connection when there is no result).
StoreError pg_error(PGconn* conn, const PGresult* result, std::string_view context) {
    const char* sqlstate = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    const char* message = result != nullptr ? PQresultErrorMessage(result) : nullptr;
    if (message == nullptr || *message == '\0') message = PQerrorMessage(conn);
    StoreFailure failure = PQstatus(conn) == CONNECTION_BAD ? StoreFailure::unavailable
                                                            : failure_of_sqlstate(sqlstate);
    return StoreError(fmt::format("{}: {}", context, first_line(message)), failure);
}

[[noreturn]] void throw_pg_error(PGconn* conn, const PGresult* result, std::string_view context) {
    throw pg_error(conn, result, context);
}

struct ResultDeleter {
    void operator()(PGresult* result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// "?1" → "$1", outside quoted literals; returns the number of parameters.
std::string to_postgresql_parameters(std::string_view sql, int& parameters) {
    std::string out;
    out.reserve(sql.size());
    parameters = 0;
    bool in_literal = false;
    for (size_t i = 0; i < sql.size(); ++i) {
        char c = sql[i];
        if (c == '\'') in_literal = !in_literal;
        if (!in_literal && c == '?' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            size_t j = i + 1;
            int number = 0;
            while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9') number = number * 10 + (sql[j++] - '0');
            parameters = std::max(parameters, number);
            out += '$';
            out.append(sql.substr(i + 1, j - i - 1));
            i = j - 1;
            continue;
        }
        out += c;
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

class PostgresqlConnection;

class PostgresqlStatement final : public engine::Statement {
public:
    PostgresqlStatement(PostgresqlConnection& connection, std::string name, int parameters)
        : connection_(connection),
          name_(std::move(name)),
          values_(parameters),
          is_null_(parameters, true),
          binary_(parameters, 0) {}

    void bind(int index, int64_t value) override { set(index, std::to_string(value), false); }
    void bind(int index, std::string_view value) override { set(index, std::string(value), false); }
    void bind(int index, std::span<const uint8_t> value) override {
        set(index, std::string(reinterpret_cast<const char*>(value.data()), value.size()), true);
    }
    void bind_null(int index) override {
        slot(index);
        is_null_[index - 1] = true;
    }

    bool step() override;
    void reset() override {
        result_.reset();
        row_ = -1;
        std::fill(is_null_.begin(), is_null_.end(), true);
    }

    bool is_null(int column) const override { return PQgetisnull(result_.get(), row_, column) == 1; }
    int64_t integer(int column) const override {
        const char* text = PQgetvalue(result_.get(), row_, column);
        if (*text == 't') return 1;  // a boolean
        if (*text == 'f') return 0;
        int64_t value = 0;
        std::from_chars(text, text + std::strlen(text), value);
        return value;
    }
    std::string text(int column) const override {
        return std::string(PQgetvalue(result_.get(), row_, column),
                           PQgetlength(result_.get(), row_, column));
    }
    std::span<const uint8_t> blob_view(int column) const override {
        // bytea comes as text in the hex format: "\x0a1b...".
        if (decoded_.size() <= static_cast<size_t>(column)) decoded_.resize(column + 1);
        auto& bytes = decoded_[column];
        bytes.clear();
        const char* text = PQgetvalue(result_.get(), row_, column);
        size_t length = PQgetlength(result_.get(), row_, column);
        if (length >= 2 && text[0] == '\\' && text[1] == 'x') {
            bytes.reserve((length - 2) / 2);
            for (size_t i = 2; i + 1 < length; i += 2) {
                bytes.push_back(static_cast<uint8_t>(hex_value(text[i]) * 16 + hex_value(text[i + 1])));
            }
        }
        return bytes;
    }
    int column_count() const override { return PQnfields(result_.get()); }
    std::string column_name(int column) const override { return PQfname(result_.get(), column); }
    ValueKind kind(int column) const override {
        if (is_null(column)) return ValueKind::null;
        switch (PQftype(result_.get(), column)) {
            case 17:  // bytea
                return ValueKind::blob;
            case 16:  // bool
            case 20:  // int8
            case 21:  // int2
            case 23:  // int4
                return ValueKind::integer;
            default:
                return ValueKind::text;
        }
    }

private:
    void slot(int index) {
        if (index < 1 || index > static_cast<int>(values_.size())) {
            throw StoreError(fmt::format("parameter {} is not in statement {}", index, name_),
                             StoreFailure::other);
        }
    }
    void set(int index, std::string value, bool binary) {
        slot(index);
        values_[index - 1] = std::move(value);
        is_null_[index - 1] = false;
        binary_[index - 1] = binary ? 1 : 0;
    }

    PostgresqlConnection& connection_;
    std::string name_;
    std::vector<std::string> values_;
    std::vector<bool> is_null_;
    std::vector<int> binary_;
    Result result_;
    int row_ = -1;
    mutable std::vector<std::vector<uint8_t>> decoded_;
};

class PostgresqlConnection final : public engine::Connection {
public:
    explicit PostgresqlConnection(std::string url) : url_(std::move(url)) { connect(); }
    ~PostgresqlConnection() override {
        if (conn_ != nullptr) PQfinish(conn_);
    }

    std::unique_ptr<engine::Statement> prepare(std::string_view sql) override {
        auto it = prepared_.find(std::string(sql));
        if (it == prepared_.end()) {
            send_queued();
            int parameters = 0;
            std::string text = to_postgresql_parameters(sql, parameters);
            std::string name = fmt::format("edgeca_{}", prepared_.size() + 1);
            Result result(PQprepare(conn_, name.c_str(), text.c_str(), 0, nullptr));
            if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
                throw_pg_error(conn_, result.get(), fmt::format("preparing '{}'", sql));
            }
            it = prepared_.emplace(std::string(sql), Prepared{name, parameters}).first;
        }
        return std::make_unique<PostgresqlStatement>(*this, it->second.name, it->second.parameters);
    }

    void exec(std::string_view sql) override {
        std::string owned(sql);
        // Several commands in one text cannot join a pipeline: the queued ones go first.
        if (owned.find(';') != std::string::npos) send_queued();
        Result result = run_text(owned, fmt::format("executing '{}'", sql.substr(0, 60)));
        note_changes(result.get());
    }

    // Queued, and sent in one round trip with the next statement.
    void exec_with_next(std::string_view sql) override { queued_.emplace_back(sql); }

    // Prepared statement `name` with its parameters, run after the queued commands.
    Result run_prepared(const std::string& name, int count, const char* const* values,
                        const int* lengths, const int* formats) {
        return run_after_queued(
            [&] { return PQsendQueryPrepared(conn_, name.c_str(), count, values, lengths, formats, 0); },
            [&] { return PQexecPrepared(conn_, name.c_str(), count, values, lengths, formats, 0); },
            "executing a statement");
    }

    int changes() const override { return changes_; }
    void note_changes(const PGresult* result) {
        const char* tuples = PQcmdTuples(const_cast<PGresult*>(result));
        changes_ = (tuples != nullptr && *tuples != '\0') ? std::atoi(tuples) : 0;
    }

    void begin_write() override {
        begin(fmt::format("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({})",
                          writer_lock));
    }
    // A read's BEGIN goes with its first statement (the snapshot is taken there in either case):
    // it cannot fail but with the connection, which ensure_connected has just found sound.
    void begin_read() override {
        ensure_connected();
        exec_with_next("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    }
    void commit() override { exec("COMMIT"); }
    // The read's COMMIT is sent, and its answer read before the connection's next command (see
    // settle); a read that ran no statement never began on the server.
    void end_read() override {
        if (!queued_.empty()) {
            queued_.clear();
            return;
        }
        if (PQsendQuery(conn_, "COMMIT") == 1) {
            commit_in_flight_ = true;
        } else {
            reconnect_ = true;
        }
    }
    void rollback() noexcept override {
        settle();
        queued_.clear();
        if (PQstatus(conn_) != CONNECTION_OK) return;
        if (PQtransactionStatus(conn_) == PQTRANS_IDLE) return;  // its BEGIN was never sent
        Result result(PQexec(conn_, "ROLLBACK"));
    }

    void migrate(int target) override {
        if (target == 0) target = current_schema_version();
        int version = 0;
        {
            Transaction transaction(*this);
            if (has_schema_table()) {
                auto [app, stored] = stored_version();
                if (app != application_id) {
                    throw StoreError(fmt::format("{} is not an edgeca store (application_id {:#x})",
                                                 describe(), app),
                                     StoreFailure::not_a_store);
                }
                version = stored;
            } else if (!empty()) {
                throw StoreError(fmt::format("{} is not an edgeca store: it holds other tables", describe()),
                                 StoreFailure::not_a_store);
            }
            transaction.commit();
        }
        if (version > current_schema_version()) {
            throw StoreError(fmt::format("{} has schema version {}, newer than this build's {}: "
                                         "use a newer edgeca",
                                         describe(), version, current_schema_version()),
                             StoreFailure::too_new);
        }
        for (const auto& migration : postgresql_migrations()) {
            if (migration.version <= version || migration.version > target) continue;
            Transaction transaction(*this);
            // Another node may have migrated while this one waited for the lock.
            int now = has_schema_table() ? stored_version().second : 0;
            if (now < migration.version) {
                exec(migration.sql);
                exec(fmt::format(
                    "CREATE TABLE IF NOT EXISTS edgeca_schema (application_id BIGINT NOT NULL, "
                    "version BIGINT NOT NULL); DELETE FROM edgeca_schema; "
                    "INSERT INTO edgeca_schema VALUES ({}, {})",
                    application_id, migration.version));
            }
            transaction.commit();
        }
    }

    int schema_version() override {
        Transaction transaction(*this);
        int version = has_schema_table() ? stored_version().second : 0;
        transaction.commit();
        return version;
    }

    std::string integrity_check() override {
        // The server keeps its own files sound (checksums, WAL); what can be checked from here is
        // that it answers and that the schema is edgeca's.
        ensure_connected();
        send_queued();
        Result result(PQexec(conn_, "SELECT version FROM edgeca_schema"));
        if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
            return first_line(PQresultErrorMessage(result.get()));
        }
        return "ok";
    }

    bool empty() override {
        Result result = select("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
                               "listing the tables");
        return std::string_view(PQgetvalue(result.get(), 0, 0)) == "0";
    }

    std::string_view engine() const override { return "postgresql"; }
    std::string describe() const override { return redact_url(url_); }
    std::string index_hint(std::string_view) const override { return ""; }
    std::vector<std::string> tables() override {
        Result result = select("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                               "AND tablename <> 'edgeca_schema' ORDER BY tablename",
                               "listing the tables");
        std::vector<std::string> names;
        for (int i = 0; i < PQntuples(result.get()); ++i) names.emplace_back(PQgetvalue(result.get(), i, 0));
        return names;
    }
    void after_copy() override {
        exec("SELECT setval(pg_get_serial_sequence('certificates', 'id'), max(id)) FROM certificates "
             "HAVING max(id) IS NOT NULL");
    }

private:
    struct Prepared {
        std::string name;
        int parameters;
    };

    // One command's text (no parameters), after the queued commands.
    Result run_text(const std::string& sql, std::string_view what) {
        return run_after_queued(
            [&] { return PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0); },
            [&] { return PQexec(conn_, sql.c_str()); }, what);
    }

    // One query's rows, after the queued commands.
    Result select(const std::string& sql, std::string_view what) {
        Result result = run_text(sql, what);
        if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) throw_pg_error(conn_, result.get(), what);
        return result;
    }

    // The queued commands alone, in one round trip.
    void send_queued() {
        settle();
        if (!queued_.empty()) run_after_queued(nullptr, nullptr, "");
    }

    // The queued commands and then one statement, in one round trip (libpq's pipeline mode):
    // `send` sends the statement, `run` runs it alone when nothing is queued. Returns the
    // statement's result; throws the first failure among them (the server skips what follows
    // a failure). Without `send`, only the queued commands.
    Result run_after_queued(const std::function<int()>& send, const std::function<PGresult*()>& run,
                            std::string_view what) {
        settle();
        if (queued_.empty()) {
            Result result(run());
            check(result.get(), what);
            return result;
        }
        std::vector<std::string> commands = std::move(queued_);
        queued_.clear();
        const size_t count = commands.size() + (send ? 1 : 0);
        bool sent = PQenterPipelineMode(conn_) == 1;
        for (size_t i = 0; sent && i < commands.size(); ++i) {
            sent = PQsendQueryParams(conn_, commands[i].c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
        }
        if (sent && send) sent = send() == 1;
        if (sent) sent = PQpipelineSync(conn_) == 1;
        std::optional<StoreError> failure;
        if (!sent) {
            failure = pg_error(conn_, nullptr, "sending to the server");
            reconnect_ = true;
        }
        Result last;
        bool synced = false;
        // Each command's result comes, then a null; a sync result ends the pipeline. More nulls
        // or results than commands means the connection broke before the sync came.
        for (size_t index = 0, results = 0; sent && index <= count && results <= count;) {
            Result result(PQgetResult(conn_));
            if (!result) {
                ++index;
                continue;
            }
            ++results;
            auto status = PQresultStatus(result.get());
            if (status == PGRES_PIPELINE_SYNC) {
                synced = true;
                break;
            }
            if (status == PGRES_FATAL_ERROR && !failure) {
                failure = pg_error(conn_, result.get(),
                                   index < commands.size() ? fmt::format("executing '{}'", commands[index].substr(0, 60))
                                                           : std::string(what));
            }
            if (status != PGRES_PIPELINE_ABORTED && index == commands.size()) last = std::move(result);
        }
        if (sent && !synced && !failure) failure = pg_error(conn_, nullptr, "reading the server's answers");
        // Fails only with results not collected (a broken connection): the next transaction
        // starts on a new one.
        if (PQexitPipelineMode(conn_) != 1) reconnect_ = true;
        if (failure) throw *failure;
        if (send) check(last.get(), what);
        return last;
    }

    // Reads the answer to a read's COMMIT sent earlier. Its failure changes nothing: the read was
    // over, and a broken connection is found by what comes next.
    void settle() noexcept {
        if (!commit_in_flight_) return;
        commit_in_flight_ = false;
        // One result, then a null; more means a connection in a state of its own: made again.
        int results = 0;
        while (PGresult* result = PQgetResult(conn_)) {
            PQclear(result);
            if (++results > 1) {
                reconnect_ = true;
                return;
            }
        }
    }

    void check(const PGresult* result, std::string_view what) {
        auto status = PQresultStatus(result);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) throw_pg_error(conn_, result, what);
    }

    void connect() {
        if (conn_ != nullptr) PQfinish(conn_);
        queued_.clear();
        reconnect_ = false;
        commit_in_flight_ = false;
        // Defaults first: the URL's own settings override them.
        const char* keywords[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
        const char* values[] = {"10", "edgeca", url_.c_str(), nullptr};
        conn_ = PQconnectdbParams(keywords, values, 1);
        prepared_.clear();
        if (PQstatus(conn_) != CONNECTION_OK) {
            throw StoreError(fmt::format("cannot connect to the store {}: {}", describe(),
                                         first_line(PQerrorMessage(conn_))),
                             StoreFailure::unavailable);
        }
        exec(fmt::format("SET lock_timeout = '{}'", lock_timeout));
        exec("SET client_min_messages = warning");
        // Each node writes its own commits durably, whatever the server's default says.
        exec("SET synchronous_commit = on");
    }

    // A connection the server dropped (a restart, a failover) is made again, to whichever host
    // of a multi-host URL now takes writes; statements are prepared again on it. A transaction
    // left open by a failure (a BEGIN whose lock timed out) is rolled back first.
    void ensure_connected() {
        settle();
        if (reconnect_ || PQstatus(conn_) != CONNECTION_OK || PQtransactionStatus(conn_) == PQTRANS_UNKNOWN) {
            connect();
            return;
        }
        if (PQtransactionStatus(conn_) != PQTRANS_IDLE) rollback();
    }

    void begin(const std::string& sql) {
        ensure_connected();
        try {
            exec(sql);
        } catch (...) {
            rollback();  // no Transaction owns it yet
            throw;
        }
    }

    bool has_schema_table() {
        Result result = select("SELECT to_regclass('edgeca_schema') IS NOT NULL", "reading the schema version");
        return std::string_view(PQgetvalue(result.get(), 0, 0)) == "t";
    }

    std::pair<int64_t, int> stored_version() {
        Result result = select("SELECT application_id, version FROM edgeca_schema", "reading the schema version");
        if (PQntuples(result.get()) != 1) return {0, 0};
        return {std::atoll(PQgetvalue(result.get(), 0, 0)), std::atoi(PQgetvalue(result.get(), 0, 1))};
    }

    // Transaction works on a Database; the migrations run before there is one.
    class Transaction {
    public:
        explicit Transaction(PostgresqlConnection& connection) : connection_(connection) {
            connection_.begin_write();
        }
        ~Transaction() {
            if (!done_) connection_.rollback();
        }
        void commit() {
            connection_.commit();
            done_ = true;
        }

    private:
        PostgresqlConnection& connection_;
        bool done_ = false;
    };

    std::string url_;
    PGconn* conn_ = nullptr;
    std::unordered_map<std::string, Prepared> prepared_;
    int changes_ = 0;
    // Commands without rows waiting to go with the next statement (exec_with_next).
    std::vector<std::string> queued_;
    bool reconnect_ = false;
    bool commit_in_flight_ = false;  // a read's COMMIT whose answer is still to be read
};

bool PostgresqlStatement::step() {
    if (!result_) {
        std::vector<const char*> values(values_.size());
        std::vector<int> lengths(values_.size());
        for (size_t i = 0; i < values_.size(); ++i) {
            values[i] = is_null_[i] ? nullptr : values_[i].data();
            lengths[i] = static_cast<int>(values_[i].size());
        }
        result_ = connection_.run_prepared(name_, static_cast<int>(values.size()), values.data(),
                                           lengths.data(), binary_.data());
        connection_.note_changes(result_.get());
        row_ = -1;
    }
    ++row_;
    return row_ < PQntuples(result_.get());
}

}  // namespace

void enable_postgresql() {
    enable_postgresql([](const std::string& url) { return Database(std::make_unique<PostgresqlConnection>(url)); });
}

}  // namespace edgeca::store
