// RAII transaction: BEGIN IMMEDIATE (or a SAVEPOINT when already inside one); rolls back in its
// destructor unless commit() succeeded. Destructors never throw.
#pragma once

#include <string>

namespace rslora::storage {

class Database;

class Transaction {
public:
    enum class Mode {
        Immediate, // takes the write lock now: no SQLITE_BUSY upgrade failures halfway through
        Deferred,  // read-only work that wants one consistent snapshot
    };

    explicit Transaction(Database& db, Mode mode = Mode::Immediate);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    void commit();
    void rollback() noexcept;
    bool nested() const { return !m_savepoint.empty(); }

private:
    Database& m_db;
    std::string m_savepoint;
    bool m_open = true;
};

} // namespace rslora::storage
