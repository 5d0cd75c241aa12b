// store/copy.cpp — moving a whole store to another engine (edgeca store migrate), row for row.
#include <fmt/format.h>

#include <algorithm>

#include "store/store.h"

namespace edgeca::store {
namespace {

// Every table, parents before the tables that refer to them.
const std::vector<std::string>& copy_order() {
    static const std::vector<std::string> order = {
        "issuers",  "products", "devices",     "certificates", "key_bindings",      "idempotency_keys",
        "apps",     "access_tokens", "access_list", "enrollment_tokens", "enos_calls",
        "audit_log", "audit_checkpoints", "crls",  "meta",              "leases"};
    return order;
}

void check_known_tables(engine::Connection& connection, const std::string& where) {
    for (const auto& table : connection.tables()) {
        if (std::find(copy_order().begin(), copy_order().end(), table) == copy_order().end()) {
            throw StoreError(fmt::format("{} holds a table this build does not know ({}): use the edgeca "
                                         "that wrote it",
                                         where, table),
                             StoreFailure::too_new);
        }
    }
}

}  // namespace

std::vector<Store::TableRows> Store::table_rows() const {
    std::lock_guard lock(*mutex_);
    ReadScope scope(db_);
    std::vector<TableRows> counts;
    for (const auto& table : copy_order()) {
        auto statement = db_.prepare(fmt::format("SELECT count(*) FROM {}", table));
        statement.step();
        counts.push_back({table, statement.integer(0)});
    }
    return counts;
}

std::vector<Store::TableRows> Store::copy_from(
    const Store& from, const std::function<void(const std::string&, int64_t)>& progress) {
    std::scoped_lock lock(*from.mutex_, *mutex_);
    check_known_tables(from.db_.connection(), from.describe());
    ReadScope snapshot(from.db_);
    Transaction transaction(db_);
    {
        auto held = db_.prepare("SELECT (SELECT count(*) FROM certificates) + (SELECT count(*) FROM audit_log)");
        held.step();
        if (held.integer(0) != 0) {
            throw StoreError(fmt::format("{} already holds certificates or audit entries: a store is copied "
                                         "only into a new one",
                                         describe()),
                             StoreFailure::exists);
        }
    }
    std::vector<TableRows> copied;
    for (const auto& table : copy_order()) {
        // Rows a new store starts with (its own schema bookkeeping) give way to the source's.
        db_.exec(fmt::format("DELETE FROM {}", table));
        auto select = from.db_.prepare(fmt::format("SELECT * FROM {}", table));
        std::optional<Statement> insert;
        int64_t rows = 0;
        while (select.step()) {
            const int columns = select.column_count();
            if (!insert) {
                std::string names, parameters;
                for (int c = 0; c < columns; ++c) {
                    names += fmt::format("{}{}", c ? ", " : "", select.column_name(c));
                    parameters += fmt::format("{}?{}", c ? ", " : "", c + 1);
                }
                insert.emplace(db_.prepare(fmt::format("INSERT INTO {} ({}) VALUES ({})", table, names, parameters)));
            }
            for (int c = 0; c < columns; ++c) {
                switch (select.kind(c)) {
                    case ValueKind::null:
                        insert->bind_null(c + 1);
                        break;
                    case ValueKind::integer:
                        insert->bind(c + 1, select.integer(c));
                        break;
                    case ValueKind::text:
                        insert->bind(c + 1, select.text(c));
                        break;
                    case ValueKind::blob:
                        insert->bind(c + 1, select.blob_view(c));
                        break;
                }
            }
            insert->run();
            insert->reset();
            if (++rows % 10000 == 0) progress(table, rows);
        }
        progress(table, rows);
        copied.push_back({table, rows});
    }
    db_.connection().after_copy();
    transaction.commit();
    return copied;
}

}  // namespace edgeca::store
