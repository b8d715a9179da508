// Lineage edges between adapter versions (trained-from, merged-from with weights and method,
// converted-from) and the graph of a task that the adapter browser draws.
#pragma once

#include "storage/Records.h"

#include <string>
#include <vector>

namespace rslora::storage {

class Database;

class LineageRepository {
public:
    explicit LineageRepository(Database& db) : m_db(db) {}

    // Adds child <- parent. Refuses an edge that would close a cycle. Returns the edge id.
    int64_t add(LineageEdge edge);
    // Convenience for a fusion: one merged-from edge per (parent, weight), all with `method`.
    void addMerge(int64_t childId, const std::vector<std::pair<int64_t, double>>& parentsAndWeights,
                  const std::string& method, const std::string& detailsJson = {});
    std::vector<LineageEdge> parents(int64_t childId);
    std::vector<LineageEdge> children(int64_t parentId);
    // Ancestors (transitively), nearest first.
    std::vector<int64_t> ancestors(int64_t adapterId);
    // The adapters of `task` (soft-deleted ones only when asked), plus their direct parents and
    // children from other tasks, and every edge touching the task's adapters.
    AdapterGraph graph(const std::string& task, bool includeDeleted = false);

private:
    std::vector<LineageEdge> edges(const char* sql, int64_t id);
    Database& m_db;
};

} // namespace rslora::storage
