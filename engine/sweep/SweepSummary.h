// Group statistics of a sweep: per swept combination, mean ± std and n over seeds of each metric, the
// best combination per metric, and Welch's p-value between the best and each other combination.
// CSV, JSON and text renderings for `rslora sweep`, `rslora sweeps show` and the Sweep results view.
#pragma once

#include "engine/sweep/SampleStatistics.h"
#include "engine/sweep/SweepSpec.h"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rslora::engine {

// The metrics a sweep compares, in one table: key (as stored), column title, direction.
struct SweepMetric {
    const char* key;
    const char* title;
    bool higherIsBetter;
};
const std::vector<SweepMetric>& sweepMetrics();

// What one finished (or unfinished) run of the group measured.
struct SweepRunResult {
    int64_t runId = 0;
    int combinationIndex = 0;
    SweepCombination combination;
    uint64_t seed = 0;
    bool finished = false;                  // only finished runs enter the statistics
    bool failed = false;                    // ended with an error (counted apart from the ones still to run)
    std::string error;                      // why, for a failed run
    bool missing = false;                   // a run the sweep made that is no longer in the store (deleted):
                                            // counted in its combination's runs, named, never in the statistics
    std::map<std::string, double> metrics;  // by SweepMetric::key
};

struct SweepMetricCell {
    SampleSummary summary;
    bool best = false;
    WelchResult vsBest;     // p NaN for the best itself or when n < 2 on either side
};

struct SweepGroupRow {
    int combinationIndex = 0;
    SweepCombination combination;
    std::string label;
    int runs = 0;            // runs of the combination, finished or not
    int finished = 0;
    int failed = 0;
    std::vector<std::string> failures;       // "run #7: <its error>" for each failed run
    int missing = 0;                         // runs of the combination deleted from the store
    std::vector<std::string> missingRuns;    // "seed 43" for each
    std::map<std::string, SweepMetricCell> cells; // only metrics some run of the group has
};

struct SweepSummary {
    std::vector<SweepGroupRow> rows;         // in combination order
    std::vector<std::string> metricKeys;     // metrics present in any finished run, in table order
    std::string primaryMetric;               // ranks the groups in the text view (first accuracy present, else a loss)
    int missing = 0;                         // runs of the sweep deleted from the store, all combinations

    static SweepSummary compute(const std::vector<SweepRunResult>& runs);
    const SweepMetric* metric(const std::string& key) const;
    // One row per combination: the swept keys, runs, finished, then mean, std, n, best, p_vs_best per metric.
    std::string toCsv() const;
    nlohmann::json toJson() const;
    // A fixed-width table: "mean ± std (n)" per metric, the best marked with *, and p against the best
    // for the primary metric.
    std::string toText() const;
    // "1 run of the sweep is no longer in the store (deleted), so the statistics leave out:
    // adapter.r=4 seed 43" (one line; every deleted run named); "" when none is missing.
    std::string missingText() const;
};

} // namespace rslora::engine
