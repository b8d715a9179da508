// Append-only schema history under PRAGMA user_version. A mistake in a shipped migration is fixed by
// a new migration, never by editing an old one. SCHEMA.md documents the resulting tables.
#pragma once

#include <cstdint>
#include <vector>

namespace rslora::storage {

class Database;

// "RSLW": marks a file as a workbench store (PRAGMA application_id).
constexpr int64_t kApplicationId = 0x52534C57;

struct Migration {
    int version;             // user_version after it ran
    const char* description;
    const char* sql;
    // Rebuilds a table that others reference: runs with foreign keys off (dropping the old table
    // would otherwise cascade into every child table) and checks them before it commits.
    bool rebuildsReferencedTable = false;
};

const std::vector<Migration>& migrations();
int latestSchemaVersion();

class Migrations {
public:
    // Refuses, without writing anything, a file that is some other program's SQLite database or a
    // store written by a newer program. Accepts an empty file and any older store.
    static void checkIdentity(Database& db);
    // Applies every migration above the file's version up to `target` (default: all), each in its
    // own IMMEDIATE transaction that re-reads the version first, so that two processes opening an
    // old file at once migrate it once.
    static void migrate(Database& db, int target = -1);
    static int version(Database& db);
};

} // namespace rslora::storage
