// Files a run produced besides adapter versions: checkpoints, exports, merged models, logs.
#pragma once

#include "storage/Records.h"

#include <vector>

namespace rslora::storage {

class Database;

class ArtifactRepository {
public:
    explicit ArtifactRepository(Database& db) : m_db(db) {}

    // Kind must be one of checkpoint, export, merged, log, other. Returns the id.
    int64_t add(ArtifactRecord artifact);
    std::vector<ArtifactRecord> forRun(int64_t runId);
    std::vector<ArtifactRecord> forAdapter(int64_t adapterId);
    void remove(int64_t id);

private:
    std::vector<ArtifactRecord> query(const char* sql, int64_t id);
    Database& m_db;
};

} // namespace rslora::storage
