// Records a training run in the experiment store for both front ends: the run row and its status,
// the flattened config as params, metrics through the buffered writer (as the engine's MetricsSink),
// and at the end, in one transaction, the status, the checkpoint artifact and the adapter version
// (with files of its own under the store's adapter root), its base model, lineage and evaluation.
#pragma once

#include "engine/MetricsSink.h"
#include "engine/RunIdentity.h"
#include "engine/TrainConfig.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "storage/Records.h"

#include <vector>

namespace rslora::storage {
class MetricsWriter;
class Store;
} // namespace rslora::storage

namespace rslora::engine {
struct TrainResult;
}

namespace rslora::app {

class DiskReserve;

// What a pipeline stage's version records beyond the run: its stage name, one edge per earlier stage
// (child and created time filled in by finish()), and tags.
struct VersionLineage {
    std::string stage;
    std::vector<storage::LineageEdge> parents;
    storage::Tags tags;
};

class RunRecorder : public engine::MetricsSink {
public:
    // Opens its own connections to the database (a recorder lives on the training thread).
    RunRecorder(const std::filesystem::path& databasePath, int64_t runId);
    ~RunRecorder() override;

    // A run row in state `queued` for a config, before anything starts. An empty output.dir becomes
    // the run's own folder (runFolder()), stored with the config. The config is updated in place.
    static int64_t createQueuedRun(storage::Store& store, engine::TrainConfig& config, const std::string& name);
    // <folder of the database>/runs/run-<id>-<first 8 digits of the run's uuid>: a folder no other run
    // writes to, also when several stores share a folder.
    static std::filesystem::path runFolder(const std::filesystem::path& databasePath, int64_t runId, const std::string& uuid);
    // Short method label ("rslora", "lora", "spectral", "subspace", "full") used in adapter names.
    static std::string methodVariant(const engine::TrainConfig& config);

    int64_t runId() const { return m_runId; }
    // What checkpoints record about this run.
    engine::RunIdentity identity() const;
    // Marks the run running on this process (pid and heartbeat) and starts the metric writer. Sets
    // aside 1 MiB beside the store, so a full disk cannot keep the run's failure from being recorded.
    // Throws, writing nothing, when the run is finished or another live process holds it
    // (RunRepository::markStarted); fail() then leaves the run's record alone.
    void start(const std::string& device);
    // The config this process trains the run with, when it differs from the stored one (a continued
    // run's overrides): stored with the run (config and params) and described by its version.
    void setConfig(const engine::TrainConfig& config);

    void write(int64_t step, const std::vector<std::pair<std::string, double>>& metrics) override;
    void flush() override;
    void discardAfter(int64_t step) override;
    void writeParams(const std::vector<std::pair<std::string, std::string>>& params) override;

    // Final status and error, in one transaction with the checkpoint artifact and, for a completed
    // LoRA run, a new version of task `task` (default: the training file's name; versions of another
    // base model go to a task of their own) with lineage to `parentAdapterId` when given. A stopped
    // run leaves a checkpoint, not a version. Returns the adapter id. When the store cannot record
    // the end, the run is marked failed with the first error and the error is thrown.
    std::optional<int64_t> finish(const engine::TrainResult& result, const std::string& task = {},
                                  std::optional<int64_t> parentAdapterId = std::nullopt);
    // The same for a pipeline stage: the version gets the stage name, tags and an edge to every earlier
    // stage, all in the one transaction.
    std::optional<int64_t> finish(const engine::TrainResult& result, const std::string& task, const VersionLineage& lineage);
    // A failure before or outside the trainer (bad config, exception): the run is failed with this
    // message even when the metrics still in the buffer cannot be written (that is logged, not
    // reported instead of the cause).
    void fail(const std::string& message);

private:
    std::optional<int64_t> finishWith(const engine::TrainResult& result, const std::string& task,
                                      std::optional<int64_t> parentAdapterId, const VersionLineage* lineage);
    // Marks the run failed; when the store's disk is full (SQLITE_FULL), frees the reserve and tries
    // once more.
    void recordFailure(const std::string& message);

    std::unique_ptr<storage::Store> m_store;
    std::unique_ptr<DiskReserve> m_reserve;
    std::unique_ptr<storage::MetricsWriter> m_writer;
    int64_t m_runId = 0;
    bool m_started = false; // start() claimed the run for this process
    engine::TrainConfig m_config;
};

} // namespace rslora::app
