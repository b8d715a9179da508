// The questions the UI and CLI ask across tables: runs with their latest metrics, what differs
// between runs, the best run or adapter by a metric.
#pragma once

#include "storage/AdapterRepository.h"
#include "storage/Records.h"
#include "storage/RunRepository.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rslora::storage {

class Database;

struct RunSummary {
    RunRecord run;
    std::vector<LatestMetric> latest;   // sorted by key
    Tags tags;
    const LatestMetric* metric(const std::string& key) const;
};

// One param across the compared runs; values[i] belongs to the i-th run asked for (nullopt: the run
// does not have the param).
struct ParamDiffRow {
    std::string key;
    std::vector<std::optional<std::string>> values;
};

// Which number of a run's series ranks it.
enum class MetricAggregate { Last, Min, Max };

struct RunScore {
    RunRecord run;
    double value = 0;
    int64_t step = 0;        // the step of the last point (Last) or 0 (Min/Max: not tracked)
};

struct AdapterScore {
    AdapterRecord adapter;
    double value = 0;
    std::string dataset;
};

// One member run of a group with what it measured: the latest value of each metric series of the
// run, overlaid by the evaluations that run recorded against its newest adapter version (same keys
// win). Evaluations recorded by anything else (rslora eval --record on another dataset or with
// another --limit) never enter a group's numbers.
struct GroupRunResult {
    RunGroupMember member;
    RunRecord run;
    std::map<std::string, double> values;
};

class Queries {
public:
    explicit Queries(Database& db) : m_db(db) {}

    // Runs matching `filter`, each with its latest metrics (only `keys` when not empty) and tags.
    std::vector<RunSummary> runsWithLatest(const RunFilter& filter = {}, const std::vector<std::string>& keys = {});
    // Params whose values are not all equal across `runIds` (a missing param counts as a value),
    // sorted by key; with includeEqual, every param.
    std::vector<ParamDiffRow> paramsDiff(const std::vector<int64_t>& runIds, bool includeEqual = false);
    // Runs ranked by `key` (best first); runs without a finite value are left out.
    std::vector<RunScore> bestRuns(const std::string& key, bool higherIsBetter, MetricAggregate aggregate,
                                   const RunFilter& filter = {}, int limit = 1);
    // Adapters ranked by an evaluation metric (on `dataset`, or their best dataset when empty).
    std::vector<AdapterScore> bestAdapters(const std::string& metric, bool higherIsBetter,
                                           const std::string& dataset = {}, const std::string& task = {},
                                           int limit = 1);

    // Every member run of a group, in run order.
    std::vector<GroupRunResult> groupResults(int64_t groupId);
    // The newest adapter version a run produced (not deleted), if any.
    std::optional<int64_t> newestAdapterOf(int64_t runId);
    // Whether the run recorded an evaluation of that adapter version on `dataset` (the file name the
    // evaluations table keeps, "(adapter)" for diagnostics).
    bool runEvaluated(int64_t runId, int64_t adapterId, const std::string& dataset);

private:
    Database& m_db;
};

} // namespace rslora::storage
