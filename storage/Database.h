// RAII connection to the SQLite store: the fixed open sequence (identity check, WAL, foreign keys,
// busy timeout), a cache of prepared statements, and busy-aware execution. One Database per thread.
#pragma once

#include "storage/Statement.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>
#include <unordered_map>
#include <utility>
#include <vector>

struct sqlite3;

namespace rslora::storage {

// A failure reported by SQLite; `code()` is the extended result code.
class DatabaseError : public rslora::Error {
public:
    DatabaseError(const std::string& message, int code, std::string hint = {});
    int code() const noexcept { return m_code; }
    bool isBusy() const noexcept;     // SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock
    bool isDiskFull() const noexcept; // SQLITE_FULL

private:
    int m_code;
};

class Database {
public:
    struct Options {
        bool create = true;                                 // create the file when missing
        bool readOnly = false;
        std::chrono::milliseconds busyTimeout{15000};       // SQLite's busy handler, per statement
    };

    // Opens `path` without modifying it: a file that is not an SQLite database is refused with an
    // error naming it, before SQLite writes anything. Call configure() next (Store does).
    Database(const std::filesystem::path& path, Options options);
    explicit Database(const std::filesystem::path& path) : Database(path, Options{}) {}
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    // WAL, foreign keys, synchronous=NORMAL, busy timeout. Only after the file was identified as
    // ours (or empty), because switching to WAL writes the header.
    void configure();

    const std::filesystem::path& path() const { return m_path; }
    sqlite3* handle() const { return m_db; }
    // Asked for, or because the file's folder is not writable (readOnlyReason() says so).
    bool readOnly() const { return m_options.readOnly; }
    // "its folder /x is not writable" when the store is only read for that reason; empty otherwise.
    const std::string& readOnlyReason() const { return m_readOnlyReason; }
    std::chrono::milliseconds busyTimeout() const { return m_options.busyTimeout; }

    // Runs one or more statements without results (schema, pragmas, BEGIN/COMMIT).
    void exec(const std::string& sql);
    // exec() that keeps retrying SQLITE_BUSY until the busy timeout has passed (BEGIN IMMEDIATE).
    void execRetrying(const std::string& sql);

    // A prepared statement kept for the connection's lifetime; the returned scope resets it on exit.
    StatementScope cached(const char* sql);
    // A one-off statement (dynamic SQL such as filters); still fully parameter-bound.
    Statement prepare(const std::string& sql);

    // Whether another connection of this process has the same file open.
    bool openElsewhereInProcess() const;

    int64_t lastInsertId() const;
    int changes() const;
    bool inTransaction() const;
    // Work that depends on how the outermost Transaction ends (files placed for rows written in it):
    // `ended(true)` runs after its COMMIT, `ended(false)` after a rollback of it, or of the savepoint
    // open now (that savepoint's writes are gone even if the outer transaction commits). Outside a
    // transaction it runs at once with true. `ended` must not throw.
    void whenTransactionEnds(std::function<void(bool committed)> ended);

    // Values of `PRAGMA name` as an integer (user_version, application_id, ...).
    int64_t pragmaInt(const char* name);

    // Throws DatabaseError for `rc` with the connection's message and the file name.
    [[noreturn]] void fail(int rc, const std::string& what) const;

private:
    friend class Transaction;
    // Transaction's nesting (BEGIN, then SAVEPOINTs), for whenTransactionEnds().
    void transactionLevelBegan();
    void transactionLevelEnded(bool committed) noexcept;
    // What a write refused as read-only (SQLITE_READONLY) should do about it.
    std::string readOnlyHint() const;
    // What to do about an SQLite error code; empty when there is nothing to say.
    std::string hintFor(int rc) const;

    std::filesystem::path m_path;
    Options m_options;
    std::string m_readOnlyReason;
    sqlite3* m_db = nullptr;
    std::vector<std::vector<std::function<void(bool)>>> m_whenEnds; // one list per open Transaction level
    std::unordered_map<std::string, std::unique_ptr<Statement>> m_cache;
    std::pair<dev_t, ino_t> m_fileId{};   // in the process-wide table of open database files
    bool m_registered = false;
};

} // namespace rslora::storage
