#include "storage/Transaction.h"

#include "common/Log.h"
#include "storage/Database.h"

#include <atomic>

namespace rslora::storage {

Transaction::Transaction(Database& db, Mode mode) : m_db(db) {
    if (db.inTransaction()) {
        static std::atomic<unsigned> counter{0};
        m_savepoint = "sp" + std::to_string(++counter);
        db.exec("SAVEPOINT " + m_savepoint);
    } else {
        db.execRetrying(mode == Mode::Immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
    }
    db.transactionLevelBegan();
}

Transaction::~Transaction() {
    if (m_open)
        rollback();
}

void Transaction::commit() {
    if (!m_open)
        return;
    if (m_savepoint.empty())
        m_db.execRetrying("COMMIT");
    else
        m_db.exec("RELEASE " + m_savepoint);
    m_open = false;
    m_db.transactionLevelEnded(true);
}

void Transaction::rollback() noexcept {
    if (!m_open)
        return;
    m_open = false;
    try {
        if (m_savepoint.empty()) {
            // SQLite may already have rolled back on its own (e.g. after SQLITE_FULL).
            if (m_db.inTransaction())
                m_db.exec("ROLLBACK");
        } else {
            m_db.exec("ROLLBACK TO " + m_savepoint);
            m_db.exec("RELEASE " + m_savepoint);
        }
    } catch (const std::exception& e) {
        rslora::logWarning(std::string("storage: rollback failed: ") + e.what());
    } catch (...) {
    }
    m_db.transactionLevelEnded(false);
}

} // namespace rslora::storage
