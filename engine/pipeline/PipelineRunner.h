// Runs a pipeline's stages in order: each stage trains a new adapter on top of the earlier ones
// (frozen and active, with curriculum fusion) or on a base into which they were merged, or takes a
// stored version instead of training. Progress is kept in <output>/pipeline_state.json so that a
// stopped pipeline resumes between stages and, from the stage's checkpoints, within one. Recording
// (runs, versions, lineage) is left to the hooks, so the engine needs no store. No Qt.
#pragma once

#include "engine/MetricsSink.h"
#include "engine/RunIdentity.h"
#include "engine/TrainObserver.h"
#include "engine/Trainer.h"
#include "engine/pipeline/PipelineConfig.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rslora::engine::pipeline {

inline constexpr const char* kPipelineStateFile = "pipeline_state.json";
inline constexpr const char* kMergedBaseFolder = "base-merged";

// One earlier stage as a later stage sees it.
struct StageBelow {
    std::string stage;                   // its name
    std::filesystem::path adapterDir;    // its adapter folder
    std::optional<int64_t> adapterId;    // its stored version, when recorded
    bool mergedIntoBase = false;         // merged into the base weights (else stacked, frozen, active)
    double weight = 1.0;                 // its weight while stacked, at the end of this stage
};

struct StageContext {
    std::string pipeline;                // the pipeline's name
    size_t index = 0;
    size_t count = 0;
    const StageSpec* spec = nullptr;
    TrainConfig config;                  // what the stage trains (stack_on and output.dir set)
    std::vector<StageBelow> below;       // every earlier stage, nearest last
    std::optional<int64_t> runId;        // the run of an earlier attempt to continue (recorded by the hooks)
    bool resuming = false;               // continues from the stage's checkpoint
};

struct StageRecording {
    MetricsSink* sink = nullptr;
    RunIdentity identity;
    std::optional<int64_t> runId;        // remembered in the state so that a resume continues this run
};

struct StageOutcome {
    std::string stage;
    TrainStatus status = TrainStatus::Completed;
    bool trained = true;                 // false: taken from the store (`from:`) or done before
    std::string adapterDir;
    std::optional<int64_t> adapterId;
    std::optional<int64_t> runId;
    TrainResult result;                  // for trained stages
};

struct PipelineResult {
    TrainStatus status = TrainStatus::Completed;
    std::string message;
    std::vector<StageOutcome> stages;
};

class PipelineHooks {
public:
    virtual ~PipelineHooks() = default;
    // Checks a `from:` reference ("" when it names a version); used before anything trains.
    virtual std::string checkFrom(const std::string& reference) { return "no experiment store is open to look up '" + reference + "' in"; }
    // The adapter folder and version id of a `from:` reference.
    virtual std::pair<std::filesystem::path, std::optional<int64_t>> resolveFrom(const std::string& reference);
    // A stage is about to train (or continue).
    virtual StageRecording stageStarting(const StageContext&) { return {}; }
    // A stage ended (completed, stopped or failed); returns the stored version when one was recorded.
    virtual std::optional<int64_t> stageFinished(const StageContext&, const TrainResult&) { return std::nullopt; }
    // A stage failed before or outside the trainer.
    virtual void stageFailed(const StageContext&, const std::string& /*message*/) {}
    // A stage taken from the store, or finished in an earlier session.
    virtual void stageSkipped(const StageContext&, const std::string& /*why*/) {}
    // The stage's run (ctx.runId) finished in an earlier session that ended before the pipeline's
    // state said so: the version it recorded (nullopt: it did not finish, train or continue it).
    virtual std::optional<int64_t> finishedEarlier(const StageContext&) { return std::nullopt; }
};

class PipelineRunner {
public:
    // `config.outputDir` must be set (the caller picks a folder when the file names none).
    PipelineRunner(PipelineConfig config, PipelineHooks& hooks);

    // Checks everything (throws listing every problem): the config, its data files and each `from:`
    // reference. run() checks first unless check() passed already, so a caller can report problems
    // before it announces the pipeline.
    void check();
    // Checks (unless check() passed), then runs. `resume`: continue the pipeline whose state is in
    // the output folder; otherwise a folder holding another pipeline's progress is refused.
    PipelineResult run(TrainObserver* observer, bool resume);

    const PipelineConfig& config() const { return m_config; }
    std::filesystem::path statePath() const;

private:
    PipelineConfig m_config;
    PipelineHooks& m_hooks;
    bool m_checked = false;
};

} // namespace rslora::engine::pipeline
