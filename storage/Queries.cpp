#include "storage/Queries.h"

#include "storage/Database.h"
#include "storage/EvaluationRepository.h"
#include "storage/GroupRepository.h"
#include "storage/MetricsReader.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace rslora::storage {

const LatestMetric* RunSummary::metric(const std::string& key) const {
    for (const auto& m : latest)
        if (m.key == key)
            return &m;
    return nullptr;
}

std::vector<RunSummary> Queries::runsWithLatest(const RunFilter& filter, const std::vector<std::string>& keys) {
    RunRepository runs(m_db);
    MetricsReader metrics(m_db);
    std::set<std::string> wanted(keys.begin(), keys.end());
    std::vector<RunSummary> out;
    for (RunRecord& r : runs.list(filter)) {
        RunSummary s;
        s.latest = metrics.latest(r.id);
        if (!wanted.empty())
            s.latest.erase(std::remove_if(s.latest.begin(), s.latest.end(),
                                          [&](const LatestMetric& m) { return !wanted.count(m.key); }),
                           s.latest.end());
        s.tags = runs.tags(r.id);
        s.run = std::move(r);
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<ParamDiffRow> Queries::paramsDiff(const std::vector<int64_t>& runIds, bool includeEqual) {
    RunRepository runs(m_db);
    std::vector<Params> all;
    std::set<std::string> keys;
    for (int64_t id : runIds) {
        runs.require(id);
        all.push_back(runs.params(id));
        for (const auto& kv : all.back())
            keys.insert(kv.first);
    }
    std::vector<ParamDiffRow> out;
    for (const std::string& key : keys) {
        ParamDiffRow row{key, {}};
        for (const Params& p : all) {
            auto it = p.find(key);
            row.values.push_back(it == p.end() ? std::nullopt : std::optional<std::string>(it->second));
        }
        bool differs = std::any_of(row.values.begin(), row.values.end(),
                                   [&](const std::optional<std::string>& v) { return v != row.values.front(); });
        if (differs || includeEqual)
            out.push_back(std::move(row));
    }
    return out;
}

std::vector<RunScore> Queries::bestRuns(const std::string& key, bool higherIsBetter, MetricAggregate aggregate,
                                        const RunFilter& filter, int limit) {
    RunRepository runs(m_db);
    MetricsReader metrics(m_db);
    std::vector<RunScore> scored;
    for (RunRecord& r : runs.list(filter)) {
        auto l = metrics.latest(r.id, key);
        if (!l)
            continue;
        double v = aggregate == MetricAggregate::Last ? l->value
                   : aggregate == MetricAggregate::Min ? l->minValue
                                                       : l->maxValue;
        if (std::isnan(v))
            continue;
        scored.push_back({std::move(r), v, aggregate == MetricAggregate::Last ? l->step : 0});
    }
    std::stable_sort(scored.begin(), scored.end(), [&](const RunScore& a, const RunScore& b) {
        return higherIsBetter ? a.value > b.value : a.value < b.value;
    });
    if (limit > 0 && scored.size() > static_cast<size_t>(limit))
        scored.resize(static_cast<size_t>(limit));
    return scored;
}

std::vector<AdapterScore> Queries::bestAdapters(const std::string& metric, bool higherIsBetter,
                                                const std::string& dataset, const std::string& task, int limit) {
    AdapterRepository adapters(m_db, {});
    EvaluationRepository evaluations(m_db);
    AdapterFilter f;
    f.metric = metric;
    f.dataset = dataset;
    f.task = task;
    f.orderByMetric = true;
    f.higherIsBetter = higherIsBetter;
    f.limit = limit;
    std::vector<AdapterScore> out;
    for (AdapterRecord& a : adapters.list(f)) {
        AdapterScore s{std::move(a), std::nan(""), {}};
        for (const EvaluationRecord& e : evaluations.forAdapter(s.adapter.id)) {
            if (e.metric != metric || (!dataset.empty() && e.dataset != dataset) || std::isnan(e.value))
                continue;
            if (std::isnan(s.value) || (higherIsBetter ? e.value > s.value : e.value < s.value)) {
                s.value = e.value;
                s.dataset = e.dataset;
            }
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<GroupRunResult> Queries::groupResults(int64_t groupId) {
    GroupRepository groups(m_db);
    RunRepository runs(m_db);
    MetricsReader metrics(m_db);
    std::vector<GroupRunResult> out;
    for (const RunGroupMember& m : groups.members(groupId)) {
        GroupRunResult r;
        r.member = m;
        r.run = runs.require(m.runId);
        for (const LatestMetric& l : metrics.latest(m.runId))
            r.values[l.key] = l.value;
        auto ev = m_db.cached("SELECT e.metric, e.value FROM evaluations e WHERE e.run_id = ? AND e.adapter_id = (SELECT "
                              "max(a.id) FROM adapters a WHERE a.source_run_id = ? AND a.deleted_at IS NULL)");
        ev->bind(1, m.runId);
        ev->bind(2, m.runId);
        while (ev->step())
            r.values[ev->getText(0)] = ev->getDouble(1);
        out.push_back(std::move(r));
    }
    return out;
}

std::optional<int64_t> Queries::newestAdapterOf(int64_t runId) {
    auto q = m_db.cached("SELECT max(id) FROM adapters WHERE source_run_id = ? AND deleted_at IS NULL");
    q->bind(1, runId);
    return q->step() ? q->getOptInt(0) : std::nullopt;
}

bool Queries::runEvaluated(int64_t runId, int64_t adapterId, const std::string& dataset) {
    auto q = m_db.cached("SELECT count(*) FROM evaluations WHERE run_id = ? AND adapter_id = ? AND dataset = ?");
    q->bind(1, runId);
    q->bind(2, adapterId);
    q->bind(3, dataset);
    return q->step() && q->getInt(0) > 0;
}

} // namespace rslora::storage
