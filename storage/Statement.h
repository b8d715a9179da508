// RAII prepared statement: parameter binding by position, stepping, typed column access.
#pragma once

#include "common/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace rslora::storage {

class Database;

class Statement {
public:
    Statement(Database& db, std::string_view sql);
    ~Statement();
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&&) = delete;
    Statement(const Statement&) = delete;

    // Binding; indices start at 1 as in SQLite. NaN binds as NULL (SQLite would do it anyway; the
    // store's convention is that a NULL metric value means NaN).
    Statement& bind(int index, int64_t value);
    Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view value);
    Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
    Statement& bindNull(int index);
    template <typename T>
    Statement& bind(int index, const std::optional<T>& value) {
        return value ? bind(index, *value) : bindNull(index);
    }
    // Binds values 1..n in order.
    template <typename... Ts>
    Statement& bindAll(const Ts&... values) {
        int i = 0;
        (bind(++i, values), ...);
        return *this;
    }

    // True while a row is available; false at the end. Throws DatabaseError on failure.
    bool step();
    // Runs a statement that returns no rows (or ignores them) and resets it.
    void run();
    void reset() noexcept;

    bool isNull(int column) const;
    int64_t getInt(int column) const;
    double getDouble(int column) const;           // NULL reads as NaN
    std::string getText(int column) const;
    std::optional<int64_t> getOptInt(int column) const;
    std::optional<double> getOptDouble(int column) const;
    std::optional<std::string> getOptText(int column) const;

    sqlite3_stmt* handle() const { return m_stmt; }

private:
    Database* m_db;
    sqlite3_stmt* m_stmt = nullptr;
};

// Resets a cached statement when the scope ends, so that no read transaction stays open.
class StatementScope {
public:
    explicit StatementScope(Statement& s) : m_s(&s) {}
    ~StatementScope() { m_s->reset(); }
    StatementScope(const StatementScope&) = delete;
    StatementScope& operator=(const StatementScope&) = delete;
    // Returned by value through guaranteed copy elision; never moved.
    StatementScope(StatementScope&&) = delete;
    Statement* operator->() const { return m_s; }
    Statement& operator*() const { return *m_s; }

private:
    Statement* m_s;
};

} // namespace rslora::storage
