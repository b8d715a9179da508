// Stores an evaluation report against an adapter version: one evaluation per metric, keyed by the
// dataset file and its SHA-256, with the counts (and per-item results when the report has them) as
// details. The metric names are the ones sweeps compare (SweepMetric keys).
#pragma once

#include <cstdint>
#include <optional>

namespace rslora::storage {
class Store;
}

namespace rslora::engine {
struct EvalRequest;
struct EvalReport;
} // namespace rslora::engine

namespace rslora::app {

class EvaluationRecorder {
public:
    // Records every part the report has, in one transaction; returns how many values were stored.
    static int record(storage::Store& store, int64_t adapterId, std::optional<int64_t> runId,
                      const engine::EvalRequest& request, const engine::EvalReport& report);
};

} // namespace rslora::app
