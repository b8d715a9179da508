#include "storage/RecordJson.h"

#include <cmath>

namespace rslora::storage {

using json = nlohmann::ordered_json;

namespace {
template <typename T>
json opt(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}
json optNumber(const std::optional<double>& v) { return v ? jsonNumber(*v) : json(nullptr); }
} // namespace

json jsonNumber(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json toJson(const RunRecord& r) {
    return {{"id", r.id},
            {"uuid", r.uuid},
            {"project_id", r.projectId},
            {"name", r.name},
            {"status", toString(r.status)},
            {"created_at", r.createdAt},
            {"start_time", optNumber(r.startTime)},
            {"end_time", optNumber(r.endTime)},
            {"seed", opt(r.seed)},
            {"base_model", {{"ref", r.baseModel.ref}, {"sha256", r.baseModel.sha256}}},
            {"dataset", {{"ref", r.dataset.ref}, {"sha256", r.dataset.sha256}}},
            {"device", r.device},
            {"host", r.host},
            {"notes", r.notes},
            {"error_message", r.errorMessage},
            {"pid", opt(r.pid)},
            {"heartbeat", optNumber(r.heartbeat)},
            {"last_step", opt(r.lastStep)}};
}

json toJson(const LatestMetric& m) {
    return {{"step", m.step},       {"wall_time", m.wallTime},      {"value", jsonNumber(m.value)},
            {"min", jsonNumber(m.minValue)}, {"max", jsonNumber(m.maxValue)}, {"count", m.count}};
}

json toJson(const AdapterRecord& a) {
    return {{"id", a.id},
            {"uuid", a.uuid},
            {"task", a.task},
            {"variant", a.variant},
            {"name", a.name},
            {"version", a.version},
            {"created_at", a.createdAt},
            {"path", a.path},
            {"sha256", a.sha256},
            {"method", a.method},
            {"rank", opt(a.rank)},
            {"alpha", optNumber(a.alpha)},
            {"targets", a.targets},
            {"trainable_params", opt(a.trainableParams)},
            {"stage", a.stage},
            {"source_run_id", opt(a.sourceRunId)},
            {"source_step", opt(a.sourceStep)},
            {"base_model", {{"ref", a.baseModel.ref}, {"sha256", a.baseModel.sha256}}},
            {"status", toString(a.status)},
            {"current", a.current},
            {"deleted_at", optNumber(a.deletedAt)},
            {"notes", a.notes}};
}

json toJson(const LineageEdge& e) {
    return {{"id", e.id},         {"child_id", e.childId},           {"parent_id", e.parentId},
            {"kind", toString(e.kind)}, {"weight", optNumber(e.weight)}, {"method", e.method},
            {"details", e.detailsJson}, {"created_at", e.createdAt}};
}

json toJson(const EvaluationRecord& e) {
    return {{"id", e.id},           {"adapter_id", e.adapterId},  {"run_id", opt(e.runId)},
            {"dataset", e.dataset}, {"dataset_sha256", e.datasetSha256}, {"metric", e.metric},
            {"value", jsonNumber(e.value)}, {"created_at", e.createdAt}, {"details", e.detailsJson}};
}

json toJson(const ArtifactRecord& a) {
    return {{"id", a.id},     {"run_id", a.runId}, {"adapter_id", opt(a.adapterId)}, {"kind", a.kind},
            {"path", a.path}, {"sha256", a.sha256}, {"size_bytes", opt(a.sizeBytes)},  {"step", opt(a.step)},
            {"created_at", a.createdAt}, {"details", a.detailsJson}};
}

json toJson(const MetricSeries& s) {
    json values = json::array(), times = json::array();
    for (size_t i = 0; i < s.size(); ++i) {
        values.push_back(jsonNumber(s.values[i]));
        times.push_back(s.wallTimes[i]);
    }
    return {{"key", s.key}, {"total_points", s.totalPoints}, {"step", s.steps}, {"wall_time", times},
            {"value", values}};
}

json toJson(const AdapterGraph& g) {
    json nodes = json::array(), edges = json::array();
    for (const auto& n : g.nodes)
        nodes.push_back(toJson(n));
    for (const auto& e : g.edges)
        edges.push_back(toJson(e));
    return {{"nodes", nodes}, {"edges", edges}, {"roots", g.roots()}};
}

} // namespace rslora::storage
