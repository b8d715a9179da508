// StoreHealth: quick_check on open (skipped while this process already holds the file), integrity_check for `rslora doctor`.
#include "storage/StoreHealth.h"

#include "common/Error.h"
#include "storage/Database.h"

#include <sqlite3.h>

namespace fs = std::filesystem;

namespace rslora::storage {
namespace {

// SQLite reports some damage as rows of the pragma and some (when it cannot even walk a page) as a
// SQLITE_CORRUPT error from step(): both are findings here.
bool isDamage(const DatabaseError& e) {
    int primary = e.code() & 0xff;
    return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

} // namespace

std::vector<std::string> StoreHealth::findings(Database& db, bool full) {
    std::vector<std::string> out;
    try {
        Statement st(db, full ? "PRAGMA integrity_check" : "PRAGMA quick_check");
        while (st.step()) {
            std::string row = st.getText(0);
            if (row == "ok")
                continue;
            // One finding per line: SQLite packs several into one row after a "*** in database" title.
            size_t start = 0;
            while (start <= row.size()) {
                size_t end = row.find('\n', start);
                std::string line = row.substr(start, end == std::string::npos ? std::string::npos : end - start);
                if (!line.empty() && line.rfind("*** in database", 0) != 0)
                    out.push_back(line);
                if (end == std::string::npos)
                    break;
                start = end + 1;
            }
        }
    } catch (const DatabaseError& e) {
        if (!isDamage(e))
            throw;
        out.push_back(e.what());
    }
    return out;
}

void StoreHealth::requireHealthy(Database& db) {
    // The check reads every page; the GUI opens one Store per thread, so a file that another
    // connection of this process already holds (and so already checked) is not read again.
    if (db.openElsewhereInProcess())
        return;
    std::vector<std::string> problems = findings(db, false);
    if (!problems.empty())
        throw rslora::Error(damagedMessage(db.path(), problems, false), recoveryHint(db.path()));
}

std::string StoreHealth::recoveryHint(const fs::path& path) {
    const std::string p = path.string();
    return "the file was left untouched. Restore the last good copy of it (from a backup), or salvage what is "
           "still readable into a new file with: sqlite3 '" + p + "' .recover | sqlite3 recovered.sqlite "
           "and then use --db recovered.sqlite (or RSLORA_DB). `rslora doctor --db '" + p +
           "'` lists every problem";
}

std::string StoreHealth::damagedMessage(const fs::path& path, const std::vector<std::string>& findings, bool full) {
    std::string msg = "database " + path.string() + " is damaged (PRAGMA " +
                      (full ? "integrity_check" : "quick_check") + " found " + std::to_string(findings.size()) +
                      (findings.size() == 1 ? " problem" : " problems");
    for (size_t i = 0; i < findings.size() && i < 3; ++i)
        msg += (i ? "; " : ": ") + findings[i];
    if (findings.size() > 3)
        msg += "; ...";
    return msg + ")";
}

} // namespace rslora::storage
