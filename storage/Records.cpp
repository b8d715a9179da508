#include "storage/Records.h"

#include "common/Error.h"

#include <algorithm>
#include <set>

namespace rslora::storage {
namespace {

template <typename E, size_t N>
E fromTable(const char* const (&names)[N], const std::string& text, const char* what) {
    for (size_t i = 0; i < N; ++i)
        if (text == names[i])
            return static_cast<E>(i);
    std::string accepted;
    for (size_t i = 0; i < N; ++i)
        accepted += (i ? ", " : "") + std::string(names[i]);
    throw rslora::Error(std::string("unknown ") + what + " \"" + text + "\"; expected one of: " + accepted);
}

const char* const kRunStatus[] = {"queued", "running", "paused", "finished", "failed", "interrupted", "stopped"};
const char* const kAdapterStatus[] = {"draft", "released", "archived"};
const char* const kLineageKind[] = {"trained-from", "merged-from", "converted-from"};

} // namespace

const char* toString(RunStatus s) { return kRunStatus[static_cast<int>(s)]; }
RunStatus runStatusFromString(const std::string& t) { return fromTable<RunStatus>(kRunStatus, t, "run status"); }
bool isTerminal(RunStatus s) {
    return s == RunStatus::Finished || s == RunStatus::Failed || s == RunStatus::Interrupted ||
           s == RunStatus::Stopped;
}

const char* toString(AdapterStatus s) { return kAdapterStatus[static_cast<int>(s)]; }
AdapterStatus adapterStatusFromString(const std::string& t) {
    return fromTable<AdapterStatus>(kAdapterStatus, t, "adapter status");
}

const char* toString(LineageKind k) { return kLineageKind[static_cast<int>(k)]; }
LineageKind lineageKindFromString(const std::string& t) {
    return fromTable<LineageKind>(kLineageKind, t, "lineage kind");
}

std::vector<int64_t> AdapterGraph::roots() const {
    std::set<int64_t> present;
    for (const auto& n : nodes)
        present.insert(n.id);
    std::vector<int64_t> out;
    for (const auto& n : nodes) {
        bool hasParent = std::any_of(edges.begin(), edges.end(), [&](const LineageEdge& e) {
            return e.childId == n.id && present.count(e.parentId);
        });
        if (!hasParent)
            out.push_back(n.id);
    }
    return out;
}

std::vector<int64_t> AdapterGraph::childrenOf(int64_t id) const {
    std::vector<int64_t> out;
    for (const auto& e : edges)
        if (e.parentId == id && std::find(out.begin(), out.end(), e.childId) == out.end())
            out.push_back(e.childId);
    return out;
}

std::vector<int64_t> AdapterGraph::parentsOf(int64_t id) const {
    std::vector<int64_t> out;
    for (const auto& e : edges)
        if (e.childId == id && std::find(out.begin(), out.end(), e.parentId) == out.end())
            out.push_back(e.parentId);
    return out;
}

const AdapterRecord* AdapterGraph::find(int64_t id) const {
    for (const auto& n : nodes)
        if (n.id == id)
            return &n;
    return nullptr;
}

} // namespace rslora::storage
