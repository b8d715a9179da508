// Detects a damaged store file (PRAGMA quick_check on open, integrity_check on demand) and says how
// to recover from one; a damaged file is only read, never modified.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace rslora::storage {

class Database;

class StoreHealth {
public:
    // The problems SQLite reports for the file, one per entry; empty when healthy. `full` runs
    // integrity_check (also compares indexes with their tables), otherwise the cheaper quick_check.
    static std::vector<std::string> findings(Database& db, bool full);
    // Runs quick_check unless another connection of this process has the file open (it was checked
    // when that one opened) and throws rslora::Error naming the file, the first findings and how to recover.
    static void requireHealthy(Database& db);
    // What to do with a damaged store at `path`: restore the last good copy, or salvage it.
    static std::string recoveryHint(const std::filesystem::path& path);
    // "database PATH is damaged (PRAGMA quick_check: ...)": the message for the first findings.
    static std::string damagedMessage(const std::filesystem::path& path, const std::vector<std::string>& findings,
                                      bool full);
};

} // namespace rslora::storage
