#include "storage/ArtifactRepository.h"

#include "common/Error.h"
#include "storage/Database.h"
#include "storage/Naming.h"

#include <sqlite3.h>

namespace rslora::storage {

int64_t ArtifactRepository::add(ArtifactRecord a) {
    auto st = m_db.cached("INSERT INTO artifacts (run_id, adapter_id, kind, path, sha256, size_bytes, step, created_at, "
                          "details_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st->bindAll(a.runId, a.adapterId, a.kind, a.path, a.sha256, a.sizeBytes, a.step,
                a.createdAt > 0 ? a.createdAt : nowSeconds(), a.detailsJson);
    try {
        st->run();
    } catch (const DatabaseError& e) {
        if (e.code() == SQLITE_CONSTRAINT_CHECK)
            throw rslora::Error("unknown artifact kind \"" + a.kind +
                                "\"; expected one of: checkpoint, export, merged, log, other");
        throw;
    }
    return m_db.lastInsertId();
}

std::vector<ArtifactRecord> ArtifactRepository::query(const char* sql, int64_t id) {
    auto st = m_db.cached(sql);
    st->bind(1, id);
    std::vector<ArtifactRecord> out;
    while (st->step()) {
        ArtifactRecord a;
        a.id = st->getInt(0);
        a.runId = st->getInt(1);
        a.adapterId = st->getOptInt(2);
        a.kind = st->getText(3);
        a.path = st->getText(4);
        a.sha256 = st->getText(5);
        a.sizeBytes = st->getOptInt(6);
        a.step = st->getOptInt(7);
        a.createdAt = st->getDouble(8);
        a.detailsJson = st->getText(9);
        out.push_back(std::move(a));
    }
    return out;
}

std::vector<ArtifactRecord> ArtifactRepository::forRun(int64_t runId) {
    return query("SELECT id, run_id, adapter_id, kind, path, sha256, size_bytes, step, created_at, details_json "
                 "FROM artifacts WHERE run_id = ? ORDER BY id",
                 runId);
}

std::vector<ArtifactRecord> ArtifactRepository::forAdapter(int64_t adapterId) {
    return query("SELECT id, run_id, adapter_id, kind, path, sha256, size_bytes, step, created_at, details_json "
                 "FROM artifacts WHERE adapter_id = ? ORDER BY id",
                 adapterId);
}

void ArtifactRepository::remove(int64_t id) {
    auto st = m_db.cached("DELETE FROM artifacts WHERE id = ?");
    st->bind(1, id);
    st->run();
}

} // namespace rslora::storage
