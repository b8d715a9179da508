#include "storage/LineageRepository.h"

#include "common/Error.h"
#include "storage/AdapterRepository.h"
#include "storage/Database.h"
#include "storage/Naming.h"
#include "storage/Transaction.h"

#include <algorithm>
#include <set>

namespace rslora::storage {
namespace {

LineageEdge readEdge(const Statement& s) {
    LineageEdge e;
    e.id = s.getInt(0);
    e.childId = s.getInt(1);
    e.parentId = s.getInt(2);
    e.kind = lineageKindFromString(s.getText(3));
    e.weight = s.getOptDouble(4);
    e.method = s.getText(5);
    e.detailsJson = s.getText(6);
    e.createdAt = s.getDouble(7);
    return e;
}

} // namespace

int64_t LineageRepository::add(LineageEdge e) {
    if (e.childId == e.parentId)
        throw rslora::Error("an adapter cannot be its own parent (adapter " + std::to_string(e.childId) + ")");
    Transaction tx(m_db);
    auto anc = ancestors(e.parentId);
    if (std::find(anc.begin(), anc.end(), e.childId) != anc.end())
        throw rslora::Error("lineage edge " + std::to_string(e.childId) + " <- " + std::to_string(e.parentId) +
                            " would make adapter " + std::to_string(e.childId) + " its own ancestor");
    auto st = m_db.cached("INSERT INTO lineage (child_id, parent_id, kind, weight, method, details_json, created_at) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (child_id, parent_id, kind) DO UPDATE SET "
                          "weight = excluded.weight, method = excluded.method, details_json = excluded.details_json");
    st->bindAll(e.childId, e.parentId, toString(e.kind), e.weight, e.method, e.detailsJson,
                e.createdAt > 0 ? e.createdAt : nowSeconds());
    st->run();
    auto id = m_db.cached("SELECT id FROM lineage WHERE child_id = ? AND parent_id = ? AND kind = ?");
    id->bindAll(e.childId, e.parentId, toString(e.kind));
    id->step();
    int64_t edgeId = id->getInt(0);
    tx.commit();
    return edgeId;
}

void LineageRepository::addMerge(int64_t childId, const std::vector<std::pair<int64_t, double>>& parents,
                                 const std::string& method, const std::string& detailsJson) {
    Transaction tx(m_db);
    for (const auto& [parent, weight] : parents) {
        LineageEdge e;
        e.childId = childId;
        e.parentId = parent;
        e.kind = LineageKind::MergedFrom;
        e.weight = weight;
        e.method = method;
        e.detailsJson = detailsJson;
        add(e);
    }
    tx.commit();
}

std::vector<LineageEdge> LineageRepository::edges(const char* sql, int64_t id) {
    auto st = m_db.cached(sql);
    st->bind(1, id);
    std::vector<LineageEdge> out;
    while (st->step())
        out.push_back(readEdge(*st));
    return out;
}

std::vector<LineageEdge> LineageRepository::parents(int64_t childId) {
    return edges("SELECT id, child_id, parent_id, kind, weight, method, details_json, created_at FROM lineage "
                 "WHERE child_id = ? ORDER BY id",
                 childId);
}

std::vector<LineageEdge> LineageRepository::children(int64_t parentId) {
    return edges("SELECT id, child_id, parent_id, kind, weight, method, details_json, created_at FROM lineage "
                 "WHERE parent_id = ? ORDER BY id",
                 parentId);
}

std::vector<int64_t> LineageRepository::ancestors(int64_t adapterId) {
    auto st = m_db.cached("WITH RECURSIVE up(id, depth) AS (SELECT parent_id, 1 FROM lineage WHERE child_id = ?1 "
                          "UNION SELECT l.parent_id, up.depth + 1 FROM lineage l JOIN up ON l.child_id = up.id "
                          "WHERE up.depth < 10000) "
                          "SELECT id, min(depth) AS d FROM up GROUP BY id ORDER BY d, id");
    st->bind(1, adapterId);
    std::vector<int64_t> out;
    while (st->step())
        out.push_back(st->getInt(0));
    return out;
}

AdapterGraph LineageRepository::graph(const std::string& task, bool includeDeleted) {
    AdapterGraph g;
    AdapterRepository adapters(m_db, {});
    AdapterFilter f;
    f.task = task;
    f.includeDeleted = includeDeleted;
    g.nodes = adapters.list(f);
    std::set<int64_t> ids;
    for (const auto& n : g.nodes)
        ids.insert(n.id);
    std::set<int64_t> seenEdges;
    std::vector<int64_t> outside;
    for (const auto& n : std::vector<AdapterRecord>(g.nodes)) {
        std::vector<LineageEdge> touching = parents(n.id);
        for (auto& e : children(n.id))
            touching.push_back(e);
        for (auto& e : touching) {
            int64_t other = e.childId == n.id ? e.parentId : e.childId;
            if (!ids.count(other)) {
                ids.insert(other);
                outside.push_back(other);
            }
            if (seenEdges.insert(e.id).second)
                g.edges.push_back(e);
        }
    }
    for (int64_t id : outside)
        if (auto a = adapters.get(id))
            g.nodes.push_back(*a);
    return g;
}

} // namespace rslora::storage
