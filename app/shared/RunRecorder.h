// Records a training run in the experiment store for both front ends: the run row and its status,
// the flattened config as params, metrics through the buffered writer (as the engine's MetricsSink),
// and at the end the adapter version with its content hash and trained-from lineage.
#pragma once

#include "engine/MetricsSink.h"
#include "engine/TrainConfig.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace rslora::storage {
class MetricsWriter;
class Store;
} // namespace rslora::storage

namespace rslora::engine {
struct TrainResult;
}

namespace rslora::app {

class RunRecorder : public engine::MetricsSink {
public:
    // Opens its own connections to the database (a recorder lives on the training thread).
    RunRecorder(const std::filesystem::path& databasePath, int64_t runId);
    ~RunRecorder() override;

    // A run row in state `queued` for a config, before anything starts.
    static int64_t createQueuedRun(storage::Store& store, const engine::TrainConfig& config, const std::string& name);
    // Short method label ("rslora", "lora", "spectral", "subspace", "full") used in adapter names.
    static std::string methodVariant(const engine::TrainConfig& config);

    int64_t runId() const { return m_runId; }
    // Marks the run running on this process (pid and heartbeat) and starts the metric writer.
    void start(const std::string& device);

    void write(int64_t step, const std::vector<std::pair<std::string, double>>& metrics) override;
    void flush() override;
    void writeParams(const std::vector<std::pair<std::string, std::string>>& params) override;

    // Final status and error; for a saved adapter a new version of task `task` (default: the
    // training file's name) with lineage to `parentAdapterId` when given. Returns the adapter id.
    std::optional<int64_t> finish(const engine::TrainResult& result, const std::string& task = {},
                                  std::optional<int64_t> parentAdapterId = std::nullopt);
    // A failure before or outside the trainer (bad config, exception).
    void fail(const std::string& message);

private:
    std::unique_ptr<storage::Store> m_store;
    std::unique_ptr<storage::MetricsWriter> m_writer;
    int64_t m_runId = 0;
    engine::TrainConfig m_config;
};

} // namespace rslora::app
