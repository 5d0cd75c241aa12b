// store/schema.h — the versioned schema of a store and the migrations between versions, for
// each engine. Both engines reach the same version numbers with the same tables.
#pragma once

#include <string_view>
#include <vector>

#include "store/database.h"

namespace edgeca::store {

// Marks a SQLite file (PRAGMA application_id) or a PostgreSQL database (the edgeca_schema
// table) as an edgeca store ("EDCA"), so that a foreign one is refused.
inline constexpr int application_id = 0x45444341;

struct Migration {
    int version;
    std::string_view summary;
    std::string_view sql;
};

// Oldest first. A released migration is never edited: a change is a new entry at the end of
// both lists.
const std::vector<Migration>& sqlite_migrations();
const std::vector<Migration>& postgresql_migrations();

// The schema version this build writes.
int current_schema_version();

// Applies every migration above the store's version up to `target` (default: the current
// version), each in its own transaction. Refuses a store written by a newer build, or a
// database that is not an edgeca store.
inline void migrate(const Database& db, int target = 0) { db.connection().migrate(target); }

}  // namespace edgeca::store
