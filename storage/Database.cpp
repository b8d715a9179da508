#include "storage/Database.h"

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <mutex>
#include <sqlite3.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

namespace rslora::storage {
namespace {

constexpr char kSqliteMagic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f', 'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};

const char* kUntouchedHint = "the file was left untouched; pass another path with --db (or RSLORA_DB), "
                             "or move the file away";

// Refuses a file that SQLite would reject only later (or, for a short file, might even rewrite).
void checkHeader(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec))
        return;
    if (!fs::is_regular_file(path, ec))
        throw rslora::Error("cannot open database " + path.string() + ": not a regular file", kUntouchedHint);
    auto size = fs::file_size(path, ec);
    if (ec || size == 0)
        return;
    std::ifstream in(path, std::ios::binary);
    char head[16] = {};
    in.read(head, sizeof head);
    if (!in && size >= 16)
        throw rslora::Error("cannot read database " + path.string(), kUntouchedHint);
    if (size < 100 || std::memcmp(head, kSqliteMagic, sizeof head) != 0)
        throw rslora::Error("cannot open database " + path.string() +
                                ": it is not an SQLite database (its first bytes are not \"SQLite format 3\")",
                            kUntouchedHint);
}

// Whether this process may create files in `dir` (its effective ids and capabilities, a read-only
// mount included).
bool folderWritable(const fs::path& dir) {
    return ::faccessat(AT_FDCWD, dir.empty() ? "." : dir.c_str(), W_OK, AT_EACCESS) == 0;
}

// "file:PATH?immutable=1" with the characters a URI path cannot hold percent-encoded.
std::string immutableUri(const fs::path& path) {
    std::string uri = "file:";
    for (unsigned char c : path.string()) {
        if (c == '%' || c == '?' || c == '#' || c < 0x20 || c >= 0x7f) {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", c);
            uri += hex;
        } else {
            uri += char(c);
        }
    }
    return uri + "?immutable=1";
}

// Database files this process has open through SQLite, by inode. POSIX advisory locks belong to the
// whole process, and closing *any* descriptor of a file drops all of them: a stray open()/close() of
// a live database would let another process think it holds the last connection and reset the WAL
// under everyone's feet (lost commits, a corrupt file). So the header is read by hand only while no
// connection of this process has the file open.
std::mutex g_openMutex;
std::map<std::pair<dev_t, ino_t>, int> g_openFiles;

} // namespace

DatabaseError::DatabaseError(const std::string& message, int code, std::string hint)
    : rslora::Error(message, std::move(hint)), m_code(code) {}

bool DatabaseError::isBusy() const noexcept {
    return (m_code & 0xff) == SQLITE_BUSY || (m_code & 0xff) == SQLITE_LOCKED;
}

bool DatabaseError::isDiskFull() const noexcept { return (m_code & 0xff) == SQLITE_FULL; }

Database::Database(const fs::path& path, Options options) : m_path(path), m_options(options) {
    std::lock_guard<std::mutex> lk(g_openMutex);
    struct stat before {};
    if (::stat(path.c_str(), &before) != 0 || !g_openFiles.count({before.st_dev, before.st_ino}))
        checkHeader(path);
    std::error_code ec;
    const fs::path folder = path.parent_path();
    bool immutable = false;
    if (!fs::exists(path, ec)) {
        if (!options.create || options.readOnly)
            throw rslora::Error("database " + path.string() + " does not exist",
                                "run a command that creates it (e.g. rslora runs list), or check --db / RSLORA_DB");
        if (!folder.empty() && !fs::is_directory(folder, ec)) {
            fs::create_directories(folder, ec);
            if (ec || !fs::is_directory(folder))
                throw rslora::Error("cannot create database " + path.string() + ": cannot create its folder " +
                                        folder.string() + (ec ? ": " + ec.message() : std::string(": a file has that name")),
                                    "pass another path with --db (or RSLORA_DB)");
        }
        if (!folderWritable(folder))
            throw rslora::Error("cannot create database " + path.string() + ": its folder " + folder.string() +
                                    " is not writable",
                                "pass a path in a writable folder with --db (or RSLORA_DB)");
    } else if (!folderWritable(folder)) {
        // The store keeps its write-ahead log (-wal, -shm) beside the file: where they cannot be made
        // it is only read. Without a -shm file no process has it open for writing, and SQLite could not
        // even read it, so it is opened as immutable (a read-only mount, a folder of another user).
        m_readOnlyReason = "its folder " + folder.string() + " is not writable";
        m_options.readOnly = true;
        immutable = !fs::exists(path.string() + "-shm", ec);
    }
    const bool readOnly = m_options.readOnly;
    int flags = SQLITE_OPEN_NOMUTEX | (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
    if (options.create && !readOnly)
        flags |= SQLITE_OPEN_CREATE;
    if (immutable)
        flags |= SQLITE_OPEN_URI;
    int rc = sqlite3_open_v2(immutable ? immutableUri(path).c_str() : path.c_str(), &m_db, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = m_db ? sqlite3_errmsg(m_db) : sqlite3_errstr(rc);
        sqlite3_close_v2(m_db);
        m_db = nullptr;
        throw DatabaseError("cannot open database " + path.string() + ": " + msg, rc, kUntouchedHint);
    }
    sqlite3_extended_result_codes(m_db, 1);
    sqlite3_busy_timeout(m_db, static_cast<int>(m_options.busyTimeout.count()));
    struct stat opened {};
    if (::stat(path.c_str(), &opened) == 0) {
        m_fileId = {opened.st_dev, opened.st_ino};
        ++g_openFiles[m_fileId];
        m_registered = true;
    }
}

Database::~Database() {
    // Closing rolls back what is still open.
    while (!m_whenEnds.empty())
        transactionLevelEnded(false);
    m_cache.clear(); // statements first: close_v2 would otherwise keep the handle as a zombie
    if (m_db)
        sqlite3_close_v2(m_db);
    if (m_registered) {
        std::lock_guard<std::mutex> lk(g_openMutex);
        if (--g_openFiles[m_fileId] <= 0)
            g_openFiles.erase(m_fileId);
    }
}

void Database::configure() {
    exec("PRAGMA foreign_keys = ON");
    // Reads straight from the mapped file instead of a pread() copy per page: long series scan tens
    // of megabytes. Address space only; the kernel's page cache holds the data either way.
    exec("PRAGMA mmap_size = 1073741824");
    if (m_options.readOnly)
        return;
    // WAL: readers never block the writer; NORMAL sync is durable against a killed process (only a
    // power cut can lose the last commits), which is the crash model of a training run.
    int64_t attempts = 0;
    for (;;) {
        Statement st(*this, "PRAGMA journal_mode = WAL");
        try {
            if (st.step() && st.getText(0) == "wal")
                break;
            throw rslora::Error("database " + m_path.string() + " cannot use write-ahead logging",
                                "keep the database on a local file system (not a network share)");
        } catch (const DatabaseError& e) {
            if (!e.isBusy() || ++attempts > 200)
                throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    exec("PRAGMA synchronous = NORMAL");
    // Checkpoints reset the WAL; this caps what a burst leaves behind on disk.
    exec("PRAGMA journal_size_limit = 67108864");
}

void Database::exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        throw DatabaseError("database " + m_path.string() + ": " + msg + " (in \"" + sql.substr(0, 120) + "\")", rc,
                            (rc & 0xff) == SQLITE_BUSY ? "another program holds the database for too long" : hintFor(rc));
    }
}

void Database::execRetrying(const std::string& sql) {
    // The busy handler covers most waits, but SQLite returns BUSY at once where waiting could
    // deadlock (e.g. during WAL recovery); retry those with a short back-off up to the timeout.
    auto deadline = std::chrono::steady_clock::now() + m_options.busyTimeout;
    auto pause = std::chrono::milliseconds(1);
    for (;;) {
        try {
            exec(sql);
            return;
        } catch (const DatabaseError& e) {
            if (!e.isBusy() || std::chrono::steady_clock::now() >= deadline)
                throw;
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
}

StatementScope Database::cached(const char* sql) {
    auto it = m_cache.find(sql);
    if (it == m_cache.end())
        it = m_cache.emplace(sql, std::make_unique<Statement>(*this, sql)).first;
    it->second->reset();
    return StatementScope(*it->second);
}

Statement Database::prepare(const std::string& sql) { return Statement(*this, sql); }

bool Database::openElsewhereInProcess() const {
    if (!m_registered)
        return false;
    std::lock_guard<std::mutex> lk(g_openMutex);
    auto it = g_openFiles.find(m_fileId);
    return it != g_openFiles.end() && it->second > 1;
}

int64_t Database::lastInsertId() const { return sqlite3_last_insert_rowid(m_db); }

int Database::changes() const { return sqlite3_changes(m_db); }

bool Database::inTransaction() const { return sqlite3_get_autocommit(m_db) == 0; }

void Database::whenTransactionEnds(std::function<void(bool committed)> ended) {
    if (m_whenEnds.empty()) {
        ended(true);
        return;
    }
    m_whenEnds.back().push_back(std::move(ended));
}

void Database::transactionLevelBegan() { m_whenEnds.emplace_back(); }

void Database::transactionLevelEnded(bool committed) noexcept {
    if (m_whenEnds.empty())
        return;
    std::vector<std::function<void(bool)>> ended = std::move(m_whenEnds.back());
    m_whenEnds.pop_back();
    // A released savepoint's work waits for the transaction around it.
    if (committed && !m_whenEnds.empty()) {
        for (auto& f : ended)
            m_whenEnds.back().push_back(std::move(f));
        return;
    }
    for (auto& f : ended) {
        try {
            f(committed);
        } catch (...) {
            // Documented not to throw; a failure here must not turn a commit into an error.
        }
    }
}

int64_t Database::pragmaInt(const char* name) {
    Statement st(*this, std::string("PRAGMA ") + name);
    return st.step() ? st.getInt(0) : 0;
}

std::string Database::readOnlyHint() const {
    if (m_readOnlyReason.empty())
        return "the database file or its folder is not writable";
    return "the store is only read here: " + m_readOnlyReason +
           "; to change it, copy the file to a writable folder and pass that path with --db (or RSLORA_DB)";
}

std::string Database::hintFor(int rc) const {
    const int primary = rc & 0xff;
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT)
        return std::string("the database file is damaged or is not a workbench database; ") + kUntouchedHint;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
        return "another program held the database longer than the busy timeout; try again";
    if (primary == SQLITE_FULL)
        return "the disk is full; free space and try again";
    if (primary == SQLITE_IOERR)
        return "the file system refused a read or write of the store: a full disk, a file-size limit, or a failing "
               "or removed drive";
    if (primary == SQLITE_READONLY)
        return readOnlyHint();
    return {};
}

void Database::fail(int rc, const std::string& what) const {
    std::string msg = m_db ? sqlite3_errmsg(m_db) : sqlite3_errstr(rc);
    const std::string hint = hintFor(rc);
    throw DatabaseError("database " + m_path.string() + ": " + what + ": " + msg, rc, hint);
}

} // namespace rslora::storage
