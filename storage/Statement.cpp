#include "storage/Statement.h"

#include "storage/Database.h"

#include <cmath>
#include <limits>
#include <sqlite3.h>

namespace rslora::storage {

Statement::Statement(Database& db, std::string_view sql) : m_db(&db) {
    int rc = sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &m_stmt, nullptr);
    if (rc != SQLITE_OK)
        db.fail(rc, "cannot prepare \"" + std::string(sql.substr(0, 120)) + "\"");
}

Statement::~Statement() {
    if (m_stmt)
        sqlite3_finalize(m_stmt);
}

Statement::Statement(Statement&& other) noexcept : m_db(other.m_db), m_stmt(other.m_stmt) {
    other.m_stmt = nullptr;
}

Statement& Statement::bind(int index, int64_t value) {
    int rc = sqlite3_bind_int64(m_stmt, index, value);
    if (rc != SQLITE_OK)
        m_db->fail(rc, "cannot bind parameter " + std::to_string(index));
    return *this;
}

Statement& Statement::bind(int index, double value) {
    int rc = std::isnan(value) ? sqlite3_bind_null(m_stmt, index) : sqlite3_bind_double(m_stmt, index, value);
    if (rc != SQLITE_OK)
        m_db->fail(rc, "cannot bind parameter " + std::to_string(index));
    return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
    // A non-null pointer even for empty strings, so that "" stays text and never becomes NULL.
    int rc = sqlite3_bind_text(m_stmt, index, value.empty() ? "" : value.data(), static_cast<int>(value.size()),
                               SQLITE_TRANSIENT);
    if (rc != SQLITE_OK)
        m_db->fail(rc, "cannot bind parameter " + std::to_string(index));
    return *this;
}

Statement& Statement::bindNull(int index) {
    int rc = sqlite3_bind_null(m_stmt, index);
    if (rc != SQLITE_OK)
        m_db->fail(rc, "cannot bind parameter " + std::to_string(index));
    return *this;
}

bool Statement::step() {
    int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    std::string sql = sqlite3_sql(m_stmt) ? sqlite3_sql(m_stmt) : "";
    // The connection's message belongs to this failure; read it before reset() can replace it.
    try {
        m_db->fail(rc, "cannot run \"" + sql.substr(0, 120) + "\"");
    } catch (...) {
        sqlite3_reset(m_stmt);
        throw;
    }
}

void Statement::run() {
    try {
        while (step()) {
        }
    } catch (...) {
        reset();
        throw;
    }
    reset();
}

void Statement::reset() noexcept {
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

bool Statement::isNull(int column) const { return sqlite3_column_type(m_stmt, column) == SQLITE_NULL; }

int64_t Statement::getInt(int column) const { return sqlite3_column_int64(m_stmt, column); }

double Statement::getDouble(int column) const {
    if (isNull(column))
        return std::numeric_limits<double>::quiet_NaN();
    return sqlite3_column_double(m_stmt, column);
}

std::string Statement::getText(int column) const {
    const unsigned char* p = sqlite3_column_text(m_stmt, column);
    int n = sqlite3_column_bytes(m_stmt, column);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

std::optional<int64_t> Statement::getOptInt(int column) const {
    if (isNull(column))
        return std::nullopt;
    return getInt(column);
}

std::optional<double> Statement::getOptDouble(int column) const {
    if (isNull(column))
        return std::nullopt;
    return sqlite3_column_double(m_stmt, column);
}

std::optional<std::string> Statement::getOptText(int column) const {
    if (isNull(column))
        return std::nullopt;
    return getText(column);
}

} // namespace rslora::storage
