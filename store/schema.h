// store/schema.h — the versioned schema of a store file and the migrations between versions.
#pragma once

#include "store/database.h"

namespace edgeca::store {

// Marks a SQLite file as an edgeca store ("EDCA"), so that a foreign file is refused.
inline constexpr int application_id = 0x45444341;

// The schema version this build writes.
int current_schema_version();

// Applies every migration above the file's user_version up to `target` (default: the
// current version), each in its own transaction. Refuses a file written by a newer build, or one
// that is not an edgeca store.
void migrate(const Database& db, int target = 0);

}  // namespace edgeca::store
