// Where metrics leave the engine (DESIGN.md §3.4): the store, a run bundle, stdout. Implemented
// outside engine/ (app/cli, app/gui) so the engine never links storage. No LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rslora::engine {

class MetricsSink {
public:
    virtual ~MetricsSink() = default;
    // Metrics of one step, e.g. {"train/loss", 2.31}, {"grad/model.layers.0.self_attn.q_proj/ratio", 1.2}.
    virtual void write(int64_t step, const std::vector<std::pair<std::string, double>>& metrics) = 0;
    // Called at eval steps, checkpoints and the end; implementations batch until then (or ≤ 1 s).
    virtual void flush() {}
    // The run continues from a checkpoint at `step`: points logged after it belong to a timeline that
    // was lost (a crash after the checkpoint) and are replaced by the ones that follow.
    virtual void discardAfter(int64_t step) { (void)step; }
    // Run parameters (the flattened config and derived facts) once at the start.
    virtual void writeParams(const std::vector<std::pair<std::string, std::string>>& params) { (void)params; }
};

} // namespace rslora::engine
